//! edge-runtime: run stylecast styles on a device: a camera to a window (kiosk mode),
//! or image files in and PNG files out without a display.

mod bench;
mod files;
mod live;
mod sheet;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use stylecast::{ModelFile, Precision, StylizeOptions, Stylizer};

#[derive(Parser, Debug)]
#[command(
    name = "edge-runtime",
    version,
    about = "Stylize camera frames or image files with stylecast models",
    long_about = "Runs fast style-transfer models (one forward pass per frame).\n\n\
With no arguments: the first style in ./models, the first camera if there is one (else a bundled demo \
photo), shown in a window if there is a display (else written to ./stylecast-out).\n\n\
Examples:\n  \
edge-runtime --model models/starry_night.safetensors --input photos/ --output out/\n  \
edge-runtime --models models/ --camera /dev/video0 --fullscreen --cycle 60\n  \
edge-runtime --source test-pattern --infer-size 320x240\n  \
edge-runtime --config docs/kiosk.toml\n  \
edge-runtime bench --model models/starry_night.safetensors\n  \
edge-runtime sheet --input ../shared/data/content/test --paintings ../shared/data/styles --output sheet.jpg\n\n\
Keys in the window: left/right or 1-9 pick a style, space freezes, s saves a snapshot, o cycles \
original/stylized/split, +/- strength, c colour preservation, f FPS overlay, q or Esc quits."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Time the network (ms per frame) at several sizes; no camera or display needed.
    Bench {
        /// The model to time [default: the first in ./models].
        #[arg(long)]
        model: Option<PathBuf>,
        /// Frame sizes, WxH, comma-separated.
        #[arg(long, default_value = "256x256,320x240,640x480,1280x720")]
        sizes: String,
        #[arg(long, default_value_t = 5)]
        reps: usize,
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        /// Compute precisions to time, comma-separated (f32, f16).
        #[arg(long, default_value = "f32")]
        precision: String,
        /// Time with f16 weights (as shipped) instead of f32, computed in --precision.
        #[arg(long)]
        f16_weights: bool,
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Mirrored border as live and file modes add it (their default: 32); 0 times the
        /// network at exactly each size, as other implementations are timed.
        #[arg(long, default_value_t = 0)]
        border_pad: u32,
    },
    /// A before/after picture: one row per photo, the photo then each style (and the
    /// paintings on top with --paintings). The README's preview sheet is made with it.
    Sheet {
        /// Photos: files or folders (searched recursively).
        #[arg(long, num_args = 1.., required = true)]
        input: Vec<PathBuf>,
        /// Model files or folders of them, a column each [default: every model in ./models].
        /// Columns of the same style (e.g. two style weights) are labelled by file name.
        #[arg(long, num_args = 1..)]
        models: Vec<PathBuf>,
        /// The picture to write: .jpg (quality 90) or .png.
        #[arg(long)]
        output: PathBuf,
        /// Folder of the paintings, for a top row: each model's style image is looked up by the
        /// file name in its metadata, else by the style's name.
        #[arg(long)]
        paintings: Option<PathBuf>,
        /// Height of each cell in pixels (cells are 3:2).
        #[arg(long, default_value_t = 150)]
        cell_height: u32,
        /// Photos are stylized at this longer side, then shrunk into their cells (strokes
        /// look as they do at this resolution).
        #[arg(long, default_value_t = 512)]
        stylize_side: u32,
        /// No style names over the columns.
        #[arg(long)]
        no_labels: bool,
        /// Compute precision: f32 or f16.
        #[arg(long, default_value = "f32")]
        precision: String,
        #[arg(long, default_value = "cpu")]
        device: String,
        #[arg(long)]
        quiet: bool,
    },
}

#[derive(clap::Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// One model file (.safetensors).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A folder of models: every style in it, switchable with the keys or --cycle.
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Image files or folders to stylize (headless; needs --output).
    #[arg(long, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Folder for stylized PNG files (file mode), or for frames written from a live source.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// With a live source and --output, write every Nth frame.
    #[arg(long, default_value_t = 1)]
    pub every: u64,
    /// Live source: camera, test-pattern, demo, or an image file or folder (a slideshow)
    /// [default: camera if one exists, else the demo photo].
    #[arg(long)]
    pub source: Option<String>,
    /// v4l2 camera device [default: the first /dev/video* found].
    #[arg(long)]
    pub camera: Option<PathBuf>,
    /// Camera capture size, WxH.
    #[arg(long, default_value = "640x480")]
    pub camera_size: String,
    /// Camera frame rate to ask for.
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Size the network runs at, WxH, independent of camera and window [default: 320x240 on CPU].
    #[arg(long)]
    pub infer_size: Option<String>,
    /// Borderless full-screen window with the cursor hidden.
    #[arg(long)]
    pub fullscreen: bool,
    /// No window, even if a display exists (needs --output for live sources).
    #[arg(long)]
    pub headless: bool,
    /// Switch style every N seconds with a short cross-fade (kiosk).
    #[arg(long)]
    pub cycle: Option<f64>,
    /// Kiosk settings file (TOML); command-line flags override it. See docs/kiosk.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Style strength, 0 (photo) to 1 (full style).
    #[arg(long, default_value_t = 1.0)]
    pub strength: f32,
    /// Keep the photo's colours, take only the style's texture and luminance.
    #[arg(long)]
    pub preserve_colors: bool,
    /// Downscale file inputs whose longer side exceeds this first (bounds time and memory).
    #[arg(long)]
    pub max_side: Option<u32>,
    /// Mirror N pixels onto every side of the network's input and crop them off after:
    /// trained styles draw a band of their own along an image's edge (starry_night: ~24 px
    /// of yellow, whatever the size), and this moves it outside the picture. 0 is fastest
    /// (at 320x240, 32 costs 1.5x the pixels).
    #[arg(long, default_value_t = stylecast::stylize::DEFAULT_BORDER_PAD)]
    pub border_pad: u32,
    /// Compute precision: f32 (CPUs) or f16 (GPUs); weights are cast to it.
    #[arg(long, default_value = "f32")]
    pub precision: String,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Stop a live source after this many frames (tests, demos).
    #[arg(long)]
    pub frames: Option<u64>,
    /// Freeze the test pattern at this time (seconds): every frame the same (tests, benchmarks).
    #[arg(long)]
    pub pattern_time: Option<f64>,
    /// Start with the FPS/latency overlay on (the f key toggles it).
    #[arg(long)]
    pub show_fps: bool,
    /// Less output.
    #[arg(long)]
    pub quiet: bool,
}

/// Where shipped models live when none is named: ./models, then the checkout's models/.
pub fn default_models_dir() -> Option<PathBuf> {
    [
        PathBuf::from("models"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"),
    ]
    .into_iter()
    .find(|p| p.is_dir() && !list_models(p).unwrap_or_default().is_empty())
}

/// Model files in a folder (not its subfolders), sorted by name.
pub fn list_models(dir: &Path) -> Result<Vec<PathBuf>> {
    stylecast::model_file::models_in(dir)
        .with_context(|| format!("{}: cannot read models folder", dir.display()))
}

/// The model paths this run uses, from --model, --models or the shipped default.
pub fn resolve_models(args: &RunArgs) -> Result<Vec<PathBuf>> {
    if let Some(m) = &args.model {
        return Ok(vec![m.clone()]);
    }
    let dir = match &args.models {
        Some(d) => d.clone(),
        None => default_models_dir().context(
            "no model given and no ./models folder with .safetensors files: use --model FILE or --models DIR",
        )?,
    };
    let v = list_models(&dir)?;
    if v.is_empty() {
        return Err(stylecast::Error::NoModels { dir }.into());
    }
    Ok(v)
}

pub fn parse_size(s: &str) -> Result<(usize, usize)> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("bad size {s:?}: use WIDTHxHEIGHT, e.g. 640x480"))?;
    let w: usize = w
        .trim()
        .parse()
        .with_context(|| format!("bad width in {s:?}"))?;
    let h: usize = h
        .trim()
        .parse()
        .with_context(|| format!("bad height in {s:?}"))?;
    if w == 0 || h == 0 || w > 8192 || h > 8192 {
        bail!("size {s:?} out of range (1..8192 per side)");
    }
    Ok((w, h))
}

fn main() {
    stylecast::tune_malloc();
    stylecast::tune_cpu_workers_for_frames();
    if let Err(e) = real_main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(Command::Bench {
        model,
        sizes,
        reps,
        warmup,
        precision,
        f16_weights,
        device,
        border_pad,
    }) = cli.command
    {
        let path = match model {
            Some(m) => m,
            None => resolve_models(&RunArgs::default())?.remove(0),
        };
        let device = stylecast::parse_device(&device)?;
        let m = ModelFile::load(&path, &candle_core::Device::Cpu)?;
        let sizes = sizes
            .split(',')
            .map(parse_size)
            .collect::<Result<Vec<_>>>()?;
        let precisions = precision
            .split(',')
            .map(|p| p.parse::<Precision>())
            .collect::<Result<Vec<_>, _>>()?;
        return bench::run(
            &m,
            &bench::BenchArgs {
                sizes,
                reps: reps.max(1),
                warmup,
                device,
                precisions,
                f16_weights,
                border_pad,
            },
        );
    }
    if let Some(Command::Sheet {
        input,
        models,
        output,
        paintings,
        cell_height,
        stylize_side,
        no_labels,
        precision,
        device,
        quiet,
    }) = cli.command
    {
        if cell_height < 8 || stylize_side < 8 {
            bail!("--cell-height and --stylize-side must be at least 8 pixels");
        }
        let model_paths = if models.is_empty() {
            resolve_models(&RunArgs::default())?
        } else {
            stylecast::model_file::expand_model_paths(&models)?
        };
        let device = stylecast::parse_device(&device)?;
        let precision: Precision = precision.parse()?;
        let stylizers = model_paths
            .iter()
            .map(|m| Ok(Stylizer::load(m, &device, precision)?))
            .collect::<Result<Vec<_>>>()?;
        if let Some(p) = paintings.as_deref().filter(|p| !p.is_dir()) {
            bail!("--paintings {}: not a folder", p.display());
        }
        let photos = files::collect_inputs(&input)?;
        let img = sheet::build(&sheet::SheetArgs {
            photos: &photos,
            stylizers: &stylizers,
            labels: sheet::column_labels(&stylizers, &model_paths),
            paintings: paintings.as_deref(),
            stylize_side,
            layout: sheet::Layout::new(cell_height, !no_labels),
            quiet,
        })?;
        sheet::save(&img, &output)?;
        if !quiet {
            println!(
                "{} photos x {} styles -> {} ({}x{})",
                photos.len(),
                stylizers.len(),
                output.display(),
                img.width(),
                img.height()
            );
        }
        return Ok(());
    }
    let args = cli.run;
    let precision: Precision = args.precision.parse()?;
    let opts = StylizeOptions {
        max_side: args.max_side,
        strength: args.strength,
        preserve_colors: args.preserve_colors,
        border_pad: args.border_pad,
    };
    if !(0.0..=1.0).contains(&args.strength) {
        bail!("--strength must be within 0..1, got {}", args.strength);
    }
    if !args.input.is_empty() {
        let out = args
            .output
            .as_deref()
            .context("--input needs --output DIR (where the PNG files go)")?;
        let models = resolve_models(&args)?;
        let device = stylecast::parse_device(&args.device)?;
        for m in &models {
            let s = Stylizer::load(m, &device, precision)?;
            let written = files::run(&s, &args.input, out, &opts, args.quiet)?;
            if !args.quiet {
                println!("{} images stylized with {}", written.len(), s.meta().style);
            }
        }
        return Ok(());
    }
    let mut args = args;
    apply_default_run(&mut args);
    live::run(&args, precision, opts)
}

/// The README's main job with no arguments on a machine without a display: instead of
/// refusing (what an explicit live run does, pointing to --output), write the frames to
/// ./stylecast-out: the demo photo once, or every 30th camera frame.
fn apply_default_run(args: &mut RunArgs) {
    let bare = args.model.is_none()
        && args.models.is_none()
        && args.source.is_none()
        && args.output.is_none()
        && args.config.is_none()
        && !args.headless;
    let no_display =
        std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none();
    if !(bare && no_display) {
        return;
    }
    args.output = Some(PathBuf::from("stylecast-out"));
    args.headless = true;
    if live::camera::any_camera_node() {
        if args.every == 1 {
            args.every = 30;
        }
        eprintln!(
            "no display: writing every {}th stylized camera frame to stylecast-out/ (Ctrl-C stops)",
            args.every
        );
    } else {
        args.source = Some("demo".into());
        args.frames.get_or_insert(1);
        eprintln!("no display and no camera: stylizing the bundled demo photo into stylecast-out/");
    }
}
