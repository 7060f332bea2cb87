//! The command line: clap's types, and their resolution into each command's checked
//! settings (`Job`). Live options may also come from a kiosk file (`--config`); clap's
//! own record of which values were typed decides, option by option, whether the flag or
//! the file wins. The arguments are parsed once, here.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use stylecast::io::image::OutputFormat;
use stylecast::{Precision, StylizeOptions};

use crate::bench::BenchSettings;
use crate::demo::{DemoSettings, DEMO_DIR};
use crate::files::FileSettings;
use crate::live::kiosk::KioskConfig;
use crate::live::settings::{LiveSettings, SourceChoice};
use crate::models::ModelChoice;
use crate::sheet::{Layout, SheetSettings};
use crate::video::VideoSettings;

#[derive(Parser, Debug)]
#[command(
    name = "edge-runtime",
    version,
    about = "Stylize camera frames or image files with stylecast models",
    long_about = "Runs fast style-transfer models (one forward pass per frame).\n\n\
With no arguments: the styles in ./models on the first camera if there is one (else a bundled demo \
photo), shown in a window if there is a display. With neither a display nor a camera: the demo photo \
stylized by every shipped style, plus a before/after sheet, written to ./stylecast-out.\n\n\
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
    Bench(BenchArgs),
    /// A before/after picture: one row per photo, the photo then each style (and the
    /// paintings on top with --paintings). The README's preview sheet is made with it.
    Sheet(SheetArgs),
}

// The subcommands' options; their help text is on the `Command` variants.

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The model to time [default: the first in ./models].
    #[arg(long)]
    model: Option<PathBuf>,
    /// The style or blend of a multi-style model to time (NAME, INDEX or NAME:W,NAME:W)
    /// [default: its first style]. A multi-style model also gets a line timing a style
    /// switch (what each step of a live morph costs).
    #[arg(long)]
    style: Option<String>,
    /// Frame sizes, WxH, comma-separated.
    #[arg(long, default_value = "256x256,320x240,640x480,1280x720")]
    sizes: String,
    /// Timed runs per size (the median is reported).
    #[arg(long, default_value_t = 5, value_parser = ranged(REPS))]
    reps: usize,
    /// Untimed runs before them.
    #[arg(long, default_value_t = 1, value_parser = ranged(WARMUP))]
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
    #[arg(long, default_value_t = 0, value_parser = ranged(BORDER_PAD))]
    border_pad: u32,
    /// One JSON object per line and result on stdout (size, style, precision, ms), instead
    /// of the table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct SheetArgs {
    /// Photos: files or folders (searched recursively).
    #[arg(long, num_args = 1.., required = true)]
    input: Vec<PathBuf>,
    /// Model files or folders of them, a column each [default: every model in ./models];
    /// a multi-style model gets a column per style it holds, labelled with the style's
    /// name. Columns of the same style (e.g. two style weights) are labelled by file name.
    #[arg(long, num_args = 1..)]
    models: Vec<PathBuf>,
    /// Only this style or blend (NAME, INDEX or NAME:W,NAME:W; see the main command's
    /// --style): models without it are left out.
    #[arg(long)]
    style: Option<String>,
    /// The picture to write: .jpg (quality 90) or .png.
    #[arg(long)]
    output: PathBuf,
    /// Folder of the paintings, for a top row: each model's style image is looked up by the
    /// file name in its metadata, else by the style's name.
    #[arg(long)]
    paintings: Option<PathBuf>,
    /// Height of each cell in pixels (cells are 3:2).
    #[arg(long, default_value_t = 150, value_parser = ranged(CELL_HEIGHT))]
    cell_height: u32,
    /// Photos are stylized at this longer side, then shrunk into their cells (strokes
    /// look as they do at this resolution).
    #[arg(long, default_value_t = 512, value_parser = ranged(STYLIZE_SIDE))]
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
}

/// The options of the default command: live mode, or file mode with --input.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct RunArgs {
    /// One model file (.safetensors).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// A folder of models: every style in it, switchable with the keys or --cycle.
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Which style of a multi-style model to paint: its name, its index (0, 1, ...), or a
    /// blend NAME:W,NAME:W (weights normalised: starry_night:0.6,the_scream:0.4). Without
    /// it, a multi-style model paints every style it holds: file mode writes one output
    /// per style (photo_<style>.png, as several models do), live mode lists each style as
    /// a style of its own, and switching between two styles of one file (keys, --cycle)
    /// morphs one into the other over about a second instead of cross-fading. A
    /// single-style model accepts only its own style's name here. With several models
    /// (--models DIR), only those that have the style paint it (`--style the_scream`
    /// picks that file, or that style of a multi-style file); it is an error only when
    /// none has it.
    #[arg(long)]
    pub style: Option<String>,
    /// Image files or folders to stylize (file mode: headless, needs --output). A file in
    /// a given folder keeps its path below it in --output; equal names get -2, -3, ...
    #[arg(long, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Folder for the stylized files (file mode), or for frames written from a live
    /// source (numbered on from the frames already there).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// File mode: the format of the results, png (lossless), jpg (quality 90) or webp
    /// (lossless) [default: png].
    #[arg(long, value_parser = parse_format)]
    pub output_format: Option<OutputFormat>,
    /// File mode: keep output files that already exist (skip those inputs) instead of
    /// replacing them; the summary says how many were replaced or kept.
    #[arg(long)]
    pub no_clobber: bool,
    /// File mode: one JSON object per line and result on stdout (input, output, width,
    /// height, style, ms; failures as input and error); other messages go to stderr.
    #[arg(long)]
    pub json: bool,
    /// With a live source and --output, write every Nth frame.
    #[arg(long, default_value_t = 1, value_parser = ranged(EVERY))]
    pub every: u64,
    /// Live source: camera, test-pattern, demo, an image file or folder (a slideshow), or a video
    /// file (looped at its frame rate; needs ffmpeg)
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
    #[arg(long, default_value_t = 30, value_parser = ranged(FPS))]
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
    #[arg(long, value_parser = ranged(CYCLE))]
    pub cycle: Option<f64>,
    /// Kiosk settings file (TOML); command-line flags override it. See docs/kiosk.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Style strength, 0 (photo) to 1 (full style).
    #[arg(long, default_value_t = 1.0, value_parser = ranged(STRENGTH))]
    pub strength: f32,
    /// Keep the photo's colours, take only the style's texture and luminance.
    #[arg(long)]
    pub preserve_colors: bool,
    /// Steady video and live frames: blend each stylized frame with the previous result
    /// where the picture did not move (0 off, up to 1; 0.6 calms repainted strokes on a
    /// still scene). Moving parts and cuts take the new frame at once, so nothing ghosts.
    #[arg(long, default_value_t = 0.0, value_parser = parse_unit)]
    pub smooth: f32,
    /// File mode: downscale inputs whose longer side exceeds this first (bounds time and
    /// memory).
    #[arg(long, value_parser = ranged(MAX_SIDE))]
    pub max_side: Option<u32>,
    // The edge band is explained at `stylecast::stylize::DEFAULT_BORDER_PAD`.
    /// Mirror N pixels onto every side of the network's input and crop them off after,
    /// so the band styles draw along an image's edge falls outside the picture. 0 is
    /// fastest.
    #[arg(long, default_value_t = stylecast::stylize::DEFAULT_BORDER_PAD, value_parser = ranged(BORDER_PAD))]
    pub border_pad: u32,
    /// Compute precision: f32 (CPUs) or f16 (GPUs); weights are cast to it.
    #[arg(long, default_value = "f32")]
    pub precision: String,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Stop a live source after this many frames (tests, demos).
    #[arg(long, value_parser = ranged(FRAMES))]
    pub frames: Option<u64>,
    /// Freeze the test pattern at this time (seconds): every frame the same (tests, benchmarks).
    #[arg(long, value_parser = ranged(PATTERN_TIME))]
    pub pattern_time: Option<f64>,
    /// Start with the FPS/latency overlay on (the f key toggles it).
    #[arg(long)]
    pub show_fps: bool,
    /// Less output.
    #[arg(long)]
    pub quiet: bool,
}

// The ranges of the numeric options: clap checks typed values against them, and
// `RunArgs::check_ranges` the kiosk file's, so a value cannot get past either way.
const BORDER_PAD: RangeInclusive<u32> = 0..=256;
const FPS: RangeInclusive<u32> = 1..=240;
const EVERY: RangeInclusive<u64> = 1..=1_000_000;
const FRAMES: RangeInclusive<u64> = 1..=1_000_000_000_000;
/// Seconds: a tenth of a second to a week.
const CYCLE: RangeInclusive<f64> = 0.1..=604_800.0;
const PATTERN_TIME: RangeInclusive<f64> = 0.0..=1e6;
const STRENGTH: RangeInclusive<f32> = 0.0..=1.0;
const MAX_SIDE: RangeInclusive<u32> = 8..=stylecast::io::image::MAX_SIDE;
const CELL_HEIGHT: RangeInclusive<u32> = 8..=1024;
const STYLIZE_SIDE: RangeInclusive<u32> = 8..=4096;
const REPS: RangeInclusive<usize> = 1..=10_000;
const WARMUP: RangeInclusive<usize> = 0..=1_000;
/// The most pixels the network is asked to run on per frame (`--infer-size`, bench
/// sizes): 4K UHD; more would need gigabytes per frame (about 800 bytes a pixel).
const MAX_FRAME_PIXELS: usize = 3840 * 2160;

/// `v` within `range`, or a message saying the range.
fn in_range<T: PartialOrd + Display + std::fmt::Debug>(
    v: T,
    range: &RangeInclusive<T>,
) -> Result<T, String> {
    // `contains` is false for NaN, so NaN is refused too.
    if range.contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            // Debug: 1e300 as typed, not its 301 digits.
            "must be within {}..={}, got {v:?}",
            range.start(),
            range.end()
        ))
    }
}

/// A clap value parser: a number within `range`.
fn ranged<T>(range: RangeInclusive<T>) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync
where
    T: FromStr + PartialOrd + Display + std::fmt::Debug + Clone + Send + Sync + 'static,
    T::Err: Display,
{
    move |s: &str| {
        let v: T = s.trim().parse().map_err(|e| format!("{e}"))?;
        in_range(v, &range)
    }
}

fn parse_format(s: &str) -> Result<OutputFormat, String> {
    s.parse().map_err(|e: stylecast::Error| e.to_string())
}

/// The options that only live mode uses, and those only file mode uses, by clap id:
/// given in the other mode they are refused instead of being ignored.
const LIVE_ONLY: &[&str] = &[
    "every",
    "source",
    "camera",
    "camera_size",
    "fps",
    "infer_size",
    "fullscreen",
    "headless",
    "cycle",
    "config",
    "frames",
    "pattern_time",
    "show_fps",
];
const FILES_ONLY: &[&str] = &["max_side", "output_format", "no_clobber", "json"];

/// Refuses options of the other mode that were typed.
fn refuse_other_mode(typed: impl Fn(&str) -> bool, files: bool) -> Result<()> {
    let (others, mode, other) = if files {
        (
            LIVE_ONLY,
            "file mode (--input)",
            "live mode only (a camera or --source)",
        )
    } else {
        (
            FILES_ONLY,
            "live mode",
            "file mode only (--input FILES --output DIR)",
        )
    };
    if let Some(id) = others.iter().find(|id| typed(id)) {
        bail!(
            "--{} applies to {other}; {mode} does not use it: remove it",
            id.replace('_', "-")
        );
    }
    Ok(())
}

/// What the command line asks for, checked.
#[derive(Debug)]
pub enum Job {
    Bench(BenchSettings),
    Sheet(SheetSettings),
    /// No arguments, no display, no camera: every shipped style on the demo photo.
    Demo(DemoSettings),
    Files(FileSettings),
    /// Video files among the inputs (and the images given with them).
    Video(VideoSettings),
    Live(LiveSettings),
}

/// Parses this process's arguments and resolves them; `--help`, `--version` and usage
/// errors exit here, as clap does.
pub fn parse() -> Result<Job> {
    resolve(&Cli::command().get_matches())
}

fn resolve(matches: &ArgMatches) -> Result<Job> {
    let cli = Cli::from_arg_matches(matches)?;
    let typed = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    Ok(match cli.command {
        Some(Command::Bench(a)) => Job::Bench(a.resolve()?),
        Some(Command::Sheet(a)) => Job::Sheet(a.resolve()?),
        None if !cli.run.input.is_empty() => {
            refuse_other_mode(typed, true)?;
            cli.run.media()?
        }
        // Live flags typed ask for live mode, even without a display (see apply_default_run).
        None if cli.run.is_bare()
            && !LIVE_ONLY.iter().any(|id| typed(id))
            && !crate::live::display::display_named()
            && !crate::live::camera::any_camera_node() =>
        {
            refuse_other_mode(typed, false)?;
            Job::Demo(cli.run.demo()?)
        }
        None => {
            refuse_other_mode(typed, false)?;
            Job::Live(cli.run.live(typed)?)
        }
    })
}

impl BenchArgs {
    fn resolve(self) -> Result<BenchSettings> {
        Ok(BenchSettings {
            model: ModelChoice::new(self.model, None),
            style: self.style,
            sizes: self
                .sizes
                .split(',')
                .map(|s| frame_size(s, "sizes"))
                .collect::<Result<Vec<_>>>()?,
            reps: self.reps,
            warmup: self.warmup,
            device: self.device,
            precisions: self
                .precision
                .split(',')
                .map(|p| p.parse::<Precision>())
                .collect::<Result<Vec<_>, _>>()?,
            f16_weights: self.f16_weights,
            border_pad: self.border_pad,
            json: self.json,
        })
    }
}

impl SheetArgs {
    fn resolve(self) -> Result<SheetSettings> {
        Ok(SheetSettings {
            inputs: self.input,
            models: self.models,
            style: self.style,
            output: self.output,
            paintings: self.paintings,
            stylize_side: self.stylize_side,
            layout: Layout::new(self.cell_height, !self.no_labels),
            precision: self.precision.parse()?,
            device: self.device,
            quiet: self.quiet,
        })
    }
}

impl RunArgs {
    /// The numeric options against their ranges: clap checked the typed ones, this also
    /// catches the kiosk file's (and says which option, as the file uses its name).
    fn check_ranges(&self) -> Result<()> {
        fn check<T: PartialOrd + Display + std::fmt::Debug + Copy>(
            flag: &str,
            v: Option<T>,
            range: RangeInclusive<T>,
        ) -> Result<()> {
            match v {
                Some(v) => in_range(v, &range).map(|_| ()).map_err(|e| {
                    anyhow::anyhow!("--{flag} (kiosk key {}) {e}", flag.replace('-', "_"))
                }),
                None => Ok(()),
            }
        }
        if !STRENGTH.contains(&self.strength) {
            bail!("--strength must be within 0..1, got {}", self.strength);
        }
        check("border-pad", Some(self.border_pad), BORDER_PAD)?;
        check("fps", Some(self.fps), FPS)?;
        check("every", Some(self.every), EVERY)?;
        check("frames", self.frames, FRAMES)?;
        check("cycle", self.cycle, CYCLE)?;
        check("pattern-time", self.pattern_time, PATTERN_TIME)?;
        check("max-side", self.max_side, MAX_SIDE)?;
        Ok(())
    }

    /// The stylize options of the flags.
    fn stylize_options(&self) -> Result<StylizeOptions> {
        self.check_ranges()?;
        Ok(StylizeOptions {
            max_side: self.max_side,
            strength: self.strength,
            preserve_colors: self.preserve_colors,
            border_pad: self.border_pad,
            ..StylizeOptions::default()
        })
    }

    /// `--input` given: video files go through video.rs, images through file mode.
    fn media(self) -> Result<Job> {
        let Some(output) = self.output.clone() else {
            return Ok(Job::Files(self.files()?));
        };
        let (mut videos, mut images) = (Vec::new(), Vec::new());
        for i in &self.input {
            if i.is_dir() {
                videos.extend(crate::video::videos_in(i, &output));
                if !stylecast::io::image::walk_images(i, &[]).images.is_empty() {
                    images.push(i.clone());
                }
            } else if crate::video::is_video_path(i) {
                videos.push(i.clone());
            } else {
                images.push(i.clone());
            }
        }
        if videos.is_empty() {
            return Ok(Job::Files(self.files()?));
        }
        if !images.is_empty() && crate::video::is_video_path(&output) {
            bail!(
                "--output {} is a video file name, but images were given too: give a folder",
                output.display()
            );
        }
        let files = RunArgs {
            input: images.clone(),
            ..self.clone()
        }
        .files()?;
        Ok(Job::Video(VideoSettings {
            videos,
            output,
            models: files.models.clone(),
            device: files.device.clone(),
            precision: files.precision,
            stylize: files.stylize,
            quiet: files.quiet,
            smooth: self.smooth,
            style: self.style.clone(),
            images: (!images.is_empty()).then_some(files),
        }))
    }

    /// File mode: `--input` given.
    fn files(self) -> Result<FileSettings> {
        let precision = self.precision.parse()?;
        let stylize = self.stylize_options()?;
        let output = self
            .output
            .context("--input needs --output DIR (where the PNG files go)")?;
        Ok(FileSettings {
            inputs: self.input,
            output,
            models: ModelChoice::new(self.model, self.models),
            style: self.style,
            device: self.device,
            precision,
            stylize,
            format: self.output_format.unwrap_or_default(),
            no_clobber: self.no_clobber,
            json: self.json,
            quiet: self.quiet,
        })
    }

    /// Live mode: the flags over the kiosk file if there is one; `typed(id)` tells
    /// whether option `id` was given on the command line.
    fn live(mut self, typed: impl Fn(&str) -> bool) -> Result<LiveSettings> {
        match self.config.clone() {
            Some(path) => self.fill_from(KioskConfig::load(&path)?, typed),
            None => self.apply_default_run(),
        }
        self.live_settings()
    }

    /// Every option not typed on the command line takes the kiosk file's value, where
    /// the file has one.
    fn fill_from(&mut self, file: KioskConfig, mut typed: impl FnMut(&str) -> bool) {
        // Takes the file apart whole (no `..`), so a key added to the format and not
        // listed here does not compile.
        macro_rules! fill {
            ($($key:ident),* $(,)?) => {
                let KioskConfig { $($key),* } = file;
                $(
                    if let Some(v) = $key {
                        if !typed(stringify!($key)) {
                            self.$key = v.into();
                        }
                    }
                )*
            };
        }
        fill!(
            model,
            models,
            style,
            output,
            every,
            source,
            camera,
            camera_size,
            fps,
            infer_size,
            fullscreen,
            headless,
            cycle,
            strength,
            preserve_colors,
            smooth,
            border_pad,
            precision,
            device,
            frames,
            quiet,
            show_fps,
            pattern_time,
        );
    }

    /// No model, source, output or kiosk file named: the README's main job.
    fn is_bare(&self) -> bool {
        self.model.is_none()
            && self.models.is_none()
            && self.source.is_none()
            && self.output.is_none()
            && self.config.is_none()
            && !self.headless
    }

    /// The main job without a display or camera: the demo photo at its own size, every
    /// shipped style, and a sheet (see demo.rs).
    fn demo(self) -> Result<DemoSettings> {
        if let Some(style) = &self.style {
            bail!(
                "--style {style:?} needs a model: add --model FILE (and --input, or a live source)"
            );
        }
        let precision = self.precision.parse()?;
        let stylize = self.stylize_options()?;
        eprintln!(
            "no display and no camera: stylizing the bundled demo photo with every shipped style into {DEMO_DIR}/"
        );
        Ok(DemoSettings {
            output: PathBuf::from(DEMO_DIR),
            models: ModelChoice::Shipped,
            device: self.device,
            precision,
            stylize,
            quiet: self.quiet,
        })
    }

    /// The README's main job on a machine without a display, with a camera (or with live
    /// flags typed): instead of refusing (what an explicit live run does, pointing to
    /// --output), write every 30th stylized camera frame (or one demo frame) to
    /// ./stylecast-out.
    fn apply_default_run(&mut self) {
        if !self.is_bare() || crate::live::display::display_named() {
            return;
        }
        self.output = Some(PathBuf::from(DEMO_DIR));
        self.headless = true;
        if !crate::live::camera::any_camera_node() {
            // Live flags were typed (else resolve() made it the demo run): one frame of
            // the demo photo through them.
            self.source = Some("demo".into());
            self.frames.get_or_insert(1);
            eprintln!(
                "no display and no camera: one stylized frame of the demo photo into {DEMO_DIR}/"
            );
            return;
        }
        if self.every == 1 {
            self.every = 30;
        }
        eprintln!(
            "no display: writing every {}th stylized camera frame to {DEMO_DIR}/ (Ctrl-C stops)",
            self.every
        );
    }

    fn live_settings(self) -> Result<LiveSettings> {
        let precision = self.precision.parse()?;
        // Live frames are already at the inference size: --max-side does not apply.
        let stylize = StylizeOptions {
            max_side: None,
            ..self.stylize_options()?
        };
        let on_gpu = self.device.trim().to_ascii_lowercase().starts_with("cuda");
        let infer_size = match &self.infer_size {
            Some(s) => {
                let (w, h) = frame_size(s, "infer-size")?;
                (w as u32, h as u32)
            }
            // What a CPU keeps interactive vs. what a GPU handles easily.
            None if on_gpu => (640, 480),
            None => (320, 240),
        };
        // The kiosk file's value is not seen by the flag's parser.
        if !(0.0..=1.0).contains(&self.smooth) {
            bail!("smooth must be within 0..1, got {}", self.smooth);
        }
        Ok(LiveSettings {
            models: ModelChoice::new(self.model, self.models),
            style: self.style,
            source: self.source.as_deref().map(SourceChoice::parse),
            camera: self.camera,
            camera_size: size_flag(&self.camera_size, "camera-size")?,
            fps: self.fps,
            pattern_time: self.pattern_time,
            infer_size,
            device: self.device,
            precision,
            stylize,
            output: self.output,
            every: self.every,
            headless: self.headless,
            fullscreen: self.fullscreen,
            cycle: self.cycle,
            frames: self.frames,
            show_fps: self.show_fps,
            quiet: self.quiet,
            smooth: self.smooth,
        })
    }
}

/// A number within 0..=1 (`--smooth`).
fn parse_unit(s: &str) -> std::result::Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{v} is outside 0..1"));
    }
    Ok(v)
}

/// `WIDTHxHEIGHT`, each side 1..8192.
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

/// A size the network runs at every frame: `parse_size`, and at most `MAX_FRAME_PIXELS`.
fn frame_size(s: &str, flag: &str) -> Result<(usize, usize)> {
    let (w, h) = parse_size(s).with_context(|| format!("--{flag}"))?;
    if w * h > MAX_FRAME_PIXELS {
        bail!("--{flag}: {w}x{h} is more than the network runs on per frame (at most 3840x2160 pixels)");
    }
    Ok((w, h))
}

/// A size flag's value; errors name the flag.
fn size_flag(s: &str, flag: &str) -> Result<(u32, u32)> {
    let (w, h) = parse_size(s).with_context(|| format!("--{flag}"))?;
    Ok((w as u32, h as u32))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;

    #[test]
    fn infer_size_defaults_by_device() {
        let a = RunArgs {
            camera_size: "640x480".into(),
            fps: 30,
            every: 1,
            strength: 1.0,
            precision: "f32".into(),
            device: "cpu".into(),
            ..Default::default()
        };
        assert_eq!(a.clone().live_settings().unwrap().infer_size, (320, 240));
        let g = RunArgs {
            device: "cuda:0".into(),
            ..a.clone()
        };
        assert_eq!(g.live_settings().unwrap().infer_size, (640, 480));
        let bad = RunArgs {
            infer_size: Some("320by240".into()),
            ..a.clone()
        };
        assert!(format!("{:#}", bad.live_settings().err().unwrap()).contains("--infer-size"));
        let bad = RunArgs { strength: 1.5, ..a };
        assert!(bad.live_settings().is_err());
    }

    #[test]
    fn config_fills_in_what_the_command_line_left_out() {
        let cfg = KioskConfig::parse(
            r#"
            models = "models"
            source = "test-pattern"
            camera_size = "1280x720"
            strength = 0.5
            fullscreen = true
            cycle = 60.0
            show_fps = true
            "#,
        )
        .unwrap();
        let cli = RunArgs {
            strength: 0.8,
            camera_size: "640x480".into(),
            fps: 30,
            ..Default::default()
        };
        let explicit: HashSet<String> = ["strength".to_string()].into();
        let mut a = cli.clone();
        a.fill_from(cfg, |id| explicit.contains(id));
        assert_eq!(a.strength, 0.8, "the flag wins");
        assert_eq!(a.camera_size, "1280x720", "the file fills a default");
        assert_eq!(a.fps, 30);
        assert!(a.fullscreen && a.show_fps);
        assert_eq!(a.cycle, Some(60.0));
        assert_eq!(a.source.as_deref(), Some("test-pattern"));
        assert_eq!(a.models, Some(PathBuf::from("models")));
    }

    fn job(args: &[&str]) -> Result<Job> {
        let argv = std::iter::once("edge-runtime").chain(args.iter().copied());
        resolve(&Cli::command().try_get_matches_from(argv)?)
    }

    #[test]
    fn typed_flags_beat_the_file_and_defaults_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("kiosk.toml");
        std::fs::write(
            &cfg,
            "strength = 0.5\nfps = 12\nsource = \"test-pattern\"\noutput = \"frames\"\n",
        )
        .unwrap();
        let cfg = cfg.to_str().unwrap();
        // --fps 30 is the default's value, typed: it still wins.
        let Job::Live(s) = job(&["--config", cfg, "--strength", "0.8", "--fps", "30"]).unwrap()
        else {
            panic!("not a live job");
        };
        assert_eq!((s.stylize.strength, s.fps), (0.8, 30));
        assert_eq!(s.source, Some(SourceChoice::TestPattern));
        assert_eq!(s.output, Some(dir.path().join("frames")));
        let Job::Live(s) = job(&["--config", cfg]).unwrap() else {
            panic!("not a live job");
        };
        assert_eq!((s.stylize.strength, s.fps), (0.5, 12));
        // The file's value is checked like the flag's.
        std::fs::write(dir.path().join("kiosk.toml"), "strength = 1.5\n").unwrap();
        let e = format!("{:#}", job(&["--config", cfg]).unwrap_err());
        assert!(e.contains("--strength must be within 0..1"), "{e}");
    }

    #[test]
    fn every_kiosk_key_is_a_command_line_option() {
        let ids: HashSet<String> = Cli::command()
            .get_arguments()
            .map(|a| a.get_id().to_string())
            .collect();
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/kiosk.toml");
        let text = std::fs::read_to_string(p).unwrap();
        // Every key set once, commented out or not, so each one is looked up: the lines
        // that are a setting on their own.
        let mut keys = HashSet::new();
        let text: String = text
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .filter(|l| KioskConfig::parse(l).is_ok())
            .filter(|l| {
                l.split_once(" = ")
                    .is_some_and(|(k, _)| keys.insert(k.to_string()))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        // The options for tests and demos the example leaves out.
        let text = text + "frames = 1\nquiet = true\npattern_time = 1.0\n";
        let mut seen = Vec::new();
        let mut a = RunArgs::default();
        a.fill_from(KioskConfig::parse(&text).unwrap(), |id| {
            seen.push(id.to_string());
            false
        });
        assert_eq!(seen.len(), 23, "{seen:?}");
        for id in &seen {
            assert!(ids.contains(id), "kiosk key {id} is no option");
        }
    }

    #[test]
    fn subcommands_and_file_mode_resolve() {
        let Job::Bench(b) = job(&["bench", "--sizes", "64x48,32x32", "--reps", "3"]).unwrap()
        else {
            panic!("not bench");
        };
        assert_eq!((b.sizes, b.reps), (vec![(64, 48), (32, 32)], 3));
        let e = format!("{:#}", job(&["bench", "--reps", "0"]).unwrap_err());
        assert!(
            e.contains("--reps") && e.contains("must be within 1..=10000"),
            "{e}"
        );
        let e = format!("{:#}", job(&["--input", "a.jpg"]).unwrap_err());
        assert!(e.contains("--input needs --output"), "{e}");
        let e = format!(
            "{:#}",
            job(&["--input", "a.jpg", "--output", "o", "--strength", "2"]).unwrap_err()
        );
        assert!(e.contains("--strength"), "{e}");
    }

    #[test]
    fn numbers_out_of_range_are_refused_from_flags_and_from_the_kiosk_file() {
        for args in [
            &["--border-pad", "257"][..],
            &["--cycle", "1e300"],
            &["--cycle", "NaN"],
            &["--fps", "0"],
            &["--every", "0"],
            &["--frames", "0"],
            &["--pattern-time", "inf"],
            &["--strength=-0.1"],
            &["--input", "a", "--output", "o", "--max-side", "4"],
            &[
                "sheet",
                "--input",
                "a",
                "--output",
                "o",
                "--cell-height",
                "4000000000",
            ],
            &[
                "sheet",
                "--input",
                "a",
                "--output",
                "o",
                "--stylize-side",
                "7",
            ],
            &["bench", "--warmup", "100000"],
        ] {
            let e = format!("{:#}", job(args).unwrap_err());
            assert!(e.contains("must be within"), "{args:?}: {e}");
        }
        let e = format!("{:#}", job(&["--infer-size", "4000x4000"]).unwrap_err());
        assert!(e.contains("--infer-size") && e.contains("3840x2160"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("kiosk.toml");
        for (line, flag) in [
            ("border_pad = 100000", "--border-pad (kiosk key border_pad)"),
            ("cycle = 1e300", "--cycle (kiosk key cycle)"),
            ("fps = 0", "--fps (kiosk key fps)"),
            ("every = 0", "--every (kiosk key every)"),
            ("frames = 0", "--frames (kiosk key frames)"),
            ("infer_size = \"100000x100000\"", "--infer-size"),
        ] {
            std::fs::write(&cfg, format!("source = \"test-pattern\"\n{line}\n")).unwrap();
            let e = format!(
                "{:#}",
                job(&["--config", cfg.to_str().unwrap()]).unwrap_err()
            );
            assert!(e.contains(flag), "{line}: {e}");
        }
    }

    #[test]
    fn options_of_the_other_mode_are_refused() {
        let files = ["--input", "a.jpg", "--output", "o"];
        for flag in [
            "--fps=5",
            "--headless",
            "--cycle=5",
            "--every=2",
            "--show-fps",
        ] {
            let mut args = files.to_vec();
            args.push(flag);
            let e = format!("{:#}", job(&args).unwrap_err());
            let name = flag.split('=').next().unwrap();
            assert!(
                e.contains(&format!("{name} applies to live mode only")),
                "{e}"
            );
        }
        for flag in [
            "--no-clobber",
            "--json",
            "--max-side=64",
            "--output-format=jpg",
        ] {
            let e = format!(
                "{:#}",
                job(&["--source", "test-pattern", flag]).unwrap_err()
            );
            let name = flag.split('=').next().unwrap();
            assert!(
                e.contains(&format!("{name} applies to file mode only")),
                "{e}"
            );
        }
        // The file-mode options themselves resolve.
        let mut args = files.to_vec();
        args.extend(["--no-clobber", "--json", "--output-format", "webp"]);
        let Job::Files(f) = job(&args).unwrap() else {
            panic!("not file mode");
        };
        assert!(f.no_clobber && f.json && f.format == OutputFormat::WebP);
    }
}
