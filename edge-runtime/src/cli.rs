//! The command line: clap's types, and their resolution into each command's checked
//! settings (`Job`). Live options may also come from a kiosk file (`--config`); clap's
//! own record of which values were typed decides, option by option, whether the flag or
//! the file wins. The arguments are parsed once, here.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
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
}

#[derive(clap::Args, Debug)]
pub struct SheetArgs {
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
    /// Image files or folders to stylize (headless; needs --output).
    #[arg(long, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Folder for stylized PNG files (file mode), or for frames written from a live source.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// With a live source and --output, write every Nth frame.
    #[arg(long, default_value_t = 1)]
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
    /// Steady video and live frames: blend each stylized frame with the previous result
    /// where the picture did not move (0 off, up to 1; 0.6 calms repainted strokes on a
    /// still scene). Moving parts and cuts take the new frame at once, so nothing ghosts.
    #[arg(long, default_value_t = 0.0, value_parser = parse_unit)]
    pub smooth: f32,
    /// Downscale file inputs whose longer side exceeds this first (bounds time and memory).
    #[arg(long)]
    pub max_side: Option<u32>,
    // The edge band is explained at `stylecast::stylize::DEFAULT_BORDER_PAD`.
    /// Mirror N pixels onto every side of the network's input and crop them off after,
    /// so the band styles draw along an image's edge falls outside the picture. 0 is
    /// fastest.
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
        None if !cli.run.input.is_empty() => cli.run.media()?,
        None if cli.run.is_bare()
            && !crate::live::display::display_named()
            && !crate::live::camera::any_camera_node() =>
        {
            Job::Demo(cli.run.demo()?)
        }
        None => Job::Live(cli.run.live(typed)?),
    })
}

impl BenchArgs {
    fn resolve(self) -> Result<BenchSettings> {
        Ok(BenchSettings {
            model: ModelChoice::new(self.model, None),
            sizes: self
                .sizes
                .split(',')
                .map(parse_size)
                .collect::<Result<Vec<_>>>()?,
            reps: self.reps.max(1),
            warmup: self.warmup,
            device: self.device,
            precisions: self
                .precision
                .split(',')
                .map(|p| p.parse::<Precision>())
                .collect::<Result<Vec<_>, _>>()?,
            f16_weights: self.f16_weights,
            border_pad: self.border_pad,
        })
    }
}

impl SheetArgs {
    fn resolve(self) -> Result<SheetSettings> {
        if self.cell_height < 8 || self.stylize_side < 8 {
            bail!("--cell-height and --stylize-side must be at least 8 pixels");
        }
        Ok(SheetSettings {
            inputs: self.input,
            models: self.models,
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
    /// The stylize options of the flags (the only place --strength is checked).
    fn stylize_options(&self) -> Result<StylizeOptions> {
        if !(0.0..=1.0).contains(&self.strength) {
            bail!("--strength must be within 0..1, got {}", self.strength);
        }
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
            device: self.device,
            precision,
            stylize,
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

    /// The README's main job with no arguments on a machine without a display but with a
    /// camera: instead of refusing (what an explicit live run does, pointing to --output),
    /// write every 30th stylized camera frame to ./stylecast-out.
    fn apply_default_run(&mut self) {
        if !self.is_bare() || crate::live::display::display_named() {
            return;
        }
        if !crate::live::camera::any_camera_node() {
            return; // resolve() made it the demo run
        }
        self.output = Some(PathBuf::from(DEMO_DIR));
        self.headless = true;
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
            Some(s) => size_flag(s, "infer-size")?,
            // What a CPU keeps interactive vs. what a GPU handles easily.
            None if on_gpu => (640, 480),
            None => (320, 240),
        };
        if !(0.0..=1.0).contains(&self.smooth) {
            bail!("smooth must be within 0..1, got {}", self.smooth);
        }
        if self.fps == 0 {
            bail!("--fps must be at least 1");
        }
        if let Some(c) = self.cycle {
            if !(c.is_finite() && c > 0.0) {
                bail!("--cycle must be a positive number of seconds, got {c}");
            }
        }
        Ok(LiveSettings {
            models: ModelChoice::new(self.model, self.models),
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
        assert_eq!(seen.len(), 22, "{seen:?}");
        for id in &seen {
            assert!(ids.contains(id), "kiosk key {id} is no option");
        }
    }

    #[test]
    fn subcommands_and_file_mode_resolve() {
        let Job::Bench(b) = job(&["bench", "--sizes", "64x48,32x32", "--reps", "0"]).unwrap()
        else {
            panic!("not bench");
        };
        assert_eq!((b.sizes, b.reps), (vec![(64, 48), (32, 32)], 1));
        let e = format!("{:#}", job(&["--input", "a.jpg"]).unwrap_err());
        assert!(e.contains("--input needs --output"), "{e}");
        let e = format!(
            "{:#}",
            job(&["--input", "a.jpg", "--output", "o", "--strength", "2"]).unwrap_err()
        );
        assert!(e.contains("--strength"), "{e}");
    }
}
