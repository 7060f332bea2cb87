//! Live mode: a source (camera, test pattern, demo photo, image files) through the network
//! to a window and/or to files.
//!
//! Three threads: capture (paced by the source), inference (the only one running the
//! network), and display (this thread: the window's event loop, or the file writer).
//! Between them, one-slot mailboxes where the newest frame wins (see `pipeline`).

pub(crate) mod camera;
mod compose;
mod display;
mod kiosk;
pub(crate) mod overlay;
mod pipeline;
mod pixfmt;
mod presenter;
mod source;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use stylecast::{Precision, StylizeOptions, Stylizer};

use crate::{parse_size, RunArgs};
use camera::CameraSource;
use display::WindowDisplay;
use kiosk::KioskConfig;
use pipeline::{Controls, Shared};
use presenter::{Presenter, PresenterConfig};
use source::{FrameSource, StillSource, TestPattern};

/// Largest window opened for a source when not full-screen (it stays resizable).
const MAX_WINDOW: (u32, u32) = (1280, 800);

/// The checked options of one live run.
struct LiveSettings {
    infer_size: (u32, u32),
    camera_size: (u32, u32),
    fps: u32,
    every: u64,
    precision: Precision,
    strength: f32,
    preserve_colors: bool,
    border_pad: u32,
    cycle: Option<f64>,
}

impl LiveSettings {
    fn from_args(a: &RunArgs) -> Result<Self> {
        let size = |s: &str, what: &str| -> Result<(u32, u32)> {
            let (w, h) = parse_size(s).with_context(|| format!("--{what}"))?;
            Ok((w as u32, h as u32))
        };
        let on_gpu = a.device.trim().to_ascii_lowercase().starts_with("cuda");
        let infer_size = match &a.infer_size {
            Some(s) => size(s, "infer-size")?,
            // What a CPU keeps interactive vs. what a GPU handles easily.
            None if on_gpu => (640, 480),
            None => (320, 240),
        };
        if !(0.0..=1.0).contains(&a.strength) {
            bail!("strength must be within 0..1, got {}", a.strength);
        }
        if a.fps == 0 {
            bail!("--fps must be at least 1");
        }
        if let Some(c) = a.cycle {
            if !(c.is_finite() && c > 0.0) {
                bail!("--cycle must be a positive number of seconds, got {c}");
            }
        }
        Ok(Self {
            infer_size,
            camera_size: size(&a.camera_size, "camera-size")?,
            fps: a.fps,
            every: a.every.max(1),
            precision: a.precision.parse()?,
            strength: a.strength,
            preserve_colors: a.preserve_colors,
            border_pad: a.border_pad,
            cycle: a.cycle,
        })
    }
}

/// Where pictures go: a window, files, or both.
struct SinkPlan {
    window: bool,
    output: Option<PathBuf>,
}

const NO_DISPLAY: &str = "no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set). \
Run with --output DIR to write the stylized frames as PNG files instead (--every N keeps every Nth frame), \
or start it from a graphical session";

impl SinkPlan {
    /// Decided before any model is loaded, so a missing display fails at once.
    fn decide(a: &RunArgs) -> Result<Self> {
        let output = a.output.clone();
        if a.headless {
            if output.is_none() {
                bail!(
                    "--headless needs --output DIR: the folder the stylized frames are written to"
                );
            }
            return Ok(Self {
                window: false,
                output,
            });
        }
        if !display::display_named() {
            if output.is_none() {
                bail!(NO_DISPLAY);
            }
            if !a.quiet {
                eprintln!(
                    "note: no display; writing frames to {} only",
                    output.as_deref().unwrap_or(Path::new("")).display()
                );
            }
            return Ok(Self {
                window: false,
                output,
            });
        }
        Ok(Self {
            window: true,
            output,
        })
    }
}

pub fn run(cli: &RunArgs, _precision: Precision, _opts: StylizeOptions) -> Result<()> {
    // Precision and strength may come from the kiosk file, so they are read again below.
    let args = match &cli.config {
        Some(path) => KioskConfig::load(path)?.apply(cli, &kiosk::explicit_cli_flags()),
        None => cli.clone(),
    };
    let settings = LiveSettings::from_args(&args)?;
    let mut plan = SinkPlan::decide(&args)?;

    let device = stylecast::parse_device(&args.device)?;
    let model_paths = crate::resolve_models(&args)?;
    let styles = model_paths
        .iter()
        .map(|p| {
            Stylizer::load(p, &device, settings.precision)
                .with_context(|| format!("{}: cannot load model", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let style_names: Vec<String> = styles.iter().map(|s| s.meta().style.clone()).collect();

    let source = open_source(&args, &settings)?;

    let window = if plan.window {
        match WindowDisplay::open(window_size(source.size()), args.fullscreen) {
            Ok(w) => Some(w),
            Err(e) if plan.output.is_some() => {
                eprintln!("warning: cannot open a window ({e:#}); writing frames to files only");
                plan.window = false;
                None
            }
            Err(e) => bail!(
                "cannot open a window on the display ({e:#}). Use --output DIR to write the stylized frames \
                 as PNG files instead (add --headless to skip the window)"
            ),
        }
    } else {
        None
    };

    if !args.quiet {
        let (iw, ih) = settings.infer_size;
        let target = match (&window, &plan.output) {
            (Some(_), Some(o)) => format!("window and {}", o.display()),
            (Some(_), None) => "window".to_string(),
            (None, Some(o)) => o.display().to_string(),
            (None, None) => "nowhere".to_string(),
        };
        eprintln!(
            "live: {} -> {} style(s) [{}] at {iw}x{ih} on {} -> {target}",
            source.describe(),
            styles.len(),
            style_names.join(", "),
            args.device
        );
    }

    let shared = Shared::new(Controls {
        style: 0,
        strength: settings.strength,
        preserve_colors: settings.preserve_colors,
        frozen: false,
        version: 0,
    });
    let mut presenter = Presenter::new(
        shared.clone(),
        PresenterConfig {
            style_names,
            output: plan.output.clone().map(|o| (o, settings.every)),
            snapshot_dir: plan.output.clone().unwrap_or_else(|| PathBuf::from(".")),
            cycle: settings.cycle,
            frames: args.frames,
            show_fps: args.show_fps,
            quiet: args.quiet,
        },
    )?;

    let capture = spawn_stage("capture", &shared, {
        let shared = shared.clone();
        move || pipeline::capture_loop(source, shared)
    })?;
    let infer = spawn_stage("inference", &shared, {
        let shared = shared.clone();
        let (size, border) = (settings.infer_size, settings.border_pad);
        move || pipeline::infer_loop(styles, size, border, shared)
    })?;

    let result = match window {
        Some(mut w) => w.run(&mut presenter),
        None => {
            while !presenter.done() && !shared.stopping() {
                presenter.poll(Duration::from_millis(200));
            }
            Ok(())
        }
    };
    let crashed = shared.crashed.load(Ordering::Relaxed);
    shared.request_stop();
    // Both stages notice `stop` within one frame or one capture timeout.
    let _ = infer.join();
    let _ = capture.join();
    if !args.quiet {
        println!("{}", presenter.summary());
    }
    if crashed {
        bail!("a pipeline thread failed (see the message above); stopping so a supervisor can restart us");
    }
    result
}

/// Starts a pipeline thread; a panic in it stops the whole run instead of freezing the
/// picture forever.
fn spawn_stage(
    name: &str,
    shared: &Arc<Shared>,
    body: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>> {
    let shared = shared.clone();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).is_err() {
                shared.crashed.store(true, Ordering::Relaxed);
                shared.request_stop();
            }
        })
        .with_context(|| format!("cannot start the {name} thread"))
}

/// The source the options ask for; see `--source` in the help.
fn open_source(a: &RunArgs, s: &LiveSettings) -> Result<Box<dyn FrameSource>> {
    let (w, h) = s.camera_size;
    let camera = |path: Option<&PathBuf>| -> Box<dyn FrameSource> {
        // With no camera yet, wait for the usual first node to appear.
        let path = path
            .cloned()
            .or_else(camera::find_default_camera)
            .unwrap_or_else(|| PathBuf::from("/dev/video0"));
        Box::new(CameraSource::new(&path, s.camera_size, s.fps))
    };
    let demo = || -> Result<Box<dyn FrameSource>> {
        match source::demo_photo() {
            Some(p) => Ok(Box::new(StillSource::open(&p, s.fps)?)),
            None => {
                if !a.quiet {
                    eprintln!(
                        "note: no demo photo (assets/demo.jpg) found; showing the test pattern"
                    );
                }
                Ok(Box::new(TestPattern::new(w, h, s.fps, a.pattern_time)))
            }
        }
    };
    Ok(match a.source.as_deref() {
        Some("camera") => camera(a.camera.as_ref()),
        Some("test-pattern") => Box::new(TestPattern::new(w, h, s.fps, a.pattern_time)),
        Some("demo") => demo()?,
        Some(path) => Box::new(StillSource::open(Path::new(path), s.fps)?),
        None if a.camera.is_some() || camera::any_camera_node() => camera(a.camera.as_ref()),
        None => demo()?,
    })
}

/// The window for a source: its own size, shrunk (keeping the aspect) to fit MAX_WINDOW.
fn window_size((w, h): (u32, u32)) -> (usize, usize) {
    let (w, h) = (w.max(1) as f64, h.max(1) as f64);
    let k = (MAX_WINDOW.0 as f64 / w)
        .min(MAX_WINDOW.1 as f64 / h)
        .min(1.0);
    (
        ((w * k).round() as usize).max(1),
        ((h * k).round() as usize).max(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_fits_big_sources_and_keeps_small_ones() {
        assert_eq!(window_size((160, 120)), (160, 120));
        assert_eq!(window_size((1920, 1080)), (1280, 720));
        assert_eq!(window_size((3000, 4000)), (600, 800));
    }

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
        assert_eq!(LiveSettings::from_args(&a).unwrap().infer_size, (320, 240));
        let g = RunArgs {
            device: "cuda:0".into(),
            ..a.clone()
        };
        assert_eq!(LiveSettings::from_args(&g).unwrap().infer_size, (640, 480));
        let bad = RunArgs {
            infer_size: Some("320by240".into()),
            ..a.clone()
        };
        assert!(
            format!("{:#}", LiveSettings::from_args(&bad).err().unwrap()).contains("--infer-size")
        );
        let bad = RunArgs { strength: 1.5, ..a };
        assert!(LiveSettings::from_args(&bad).is_err());
    }

    #[test]
    fn headless_needs_an_output() {
        let a = RunArgs {
            headless: true,
            ..Default::default()
        };
        assert!(format!("{:#}", SinkPlan::decide(&a).err().unwrap()).contains("--output"));
        let a = RunArgs {
            headless: true,
            output: Some("out".into()),
            ..Default::default()
        };
        assert!(!SinkPlan::decide(&a).unwrap().window);
    }
}
