//! Live mode: a source (camera, test pattern, demo photo, image files) through the network
//! to a window and/or to files.
//!
//! Three threads: capture (paced by the source), inference (the only one running the
//! network), and display (this thread: the window's event loop, or the file writer).
//! Between them, one-slot mailboxes where the newest frame wins (`mailbox`). The display
//! side, in the order a frame takes: `presenter` (takes it, counts, keys) -> `compose`
//! (the picture) -> `record` (files) and `display` (the window: `scale`, `overlay`).

pub(crate) mod camera;
mod compose;
mod cycle;
pub(crate) mod display;
pub(crate) mod kiosk;
mod library;
mod mailbox;
mod morph;
pub(crate) mod overlay;
mod pipeline;
mod pixfmt;
mod presenter;
mod record;
mod scale;
pub(crate) mod settings;
pub(crate) mod source;
mod throttle;
mod video_source;
mod watchdog;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use stylecast::Stylizer;

use camera::CameraSource;
use display::WindowDisplay;
use library::Library;
use pipeline::{Controls, Shared};
use presenter::{Presenter, PresenterConfig};
pub use settings::LiveSettings;
use settings::SourceChoice;
use source::{FrameSource, StillSource, TestPattern};

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
    fn decide(headless: bool, output: Option<PathBuf>, quiet: bool) -> Result<Self> {
        if headless {
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
            if !quiet {
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

pub fn run(settings: &LiveSettings) -> Result<()> {
    let s = settings;
    let mut plan = SinkPlan::decide(s.headless, s.output.clone(), s.quiet)?;

    let device = stylecast::parse_device(&s.device)?;
    let model_paths = s.models.paths()?;
    let loaded = load_styles(&model_paths, |p| {
        Stylizer::load(p, &device, s.precision)
            .map(|st| (p.to_path_buf(), st))
            .with_context(|| format!("{}: cannot load model", p.display()))
    })?;
    // A --style that fits no file is the user's mistake, not a damaged file: an error,
    // not a warning. Of several files, those without the style are passed over.
    let loaded = crate::models::expand_run(loaded, s.style.as_deref())?;
    let styles: Vec<crate::models::StyleEntry> =
        loaded.iter().flat_map(|(_, e)| e.iter().cloned()).collect();
    let style_names: Vec<String> = styles.iter().map(|s| s.name.clone()).collect();
    // A models folder is watched: styles copied in, replaced or removed while running.
    let watcher = s.models.folder().map(|dir| {
        library::Watcher::new(
            &dir,
            device.clone(),
            s.precision,
            s.style.clone(),
            &loaded,
            s.quiet,
        )
    });
    let style_count = styles.len();
    // Only the library (and the watcher) keep the styles from here on: a style replaced
    // while running is freed with its last set.
    let library = Library::new(styles);
    drop(loaded);

    let source = open_source(s)?;

    let window = if plan.window {
        match WindowDisplay::open(scale::window_size(source.size()), s.fullscreen) {
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

    if !s.quiet {
        let (iw, ih) = s.infer_size;
        let target = match (&window, &plan.output) {
            (Some(_), Some(o)) => format!("window and {}", o.display()),
            (Some(_), None) => "window".to_string(),
            (None, Some(o)) => o.display().to_string(),
            (None, None) => "nowhere".to_string(),
        };
        eprintln!(
            "live: {} -> {} style(s) [{}] at {iw}x{ih} on {} -> {target}",
            source.describe(),
            style_count,
            style_names.join(", "),
            s.device
        );
    }

    let shared = Shared::new(Controls {
        style: 0,
        strength: s.stylize.strength,
        preserve_colors: s.stylize.preserve_colors,
        frozen: false,
        morph: None,
        version: 0,
    });
    let mut presenter = Presenter::new(
        shared.clone(),
        PresenterConfig {
            style_names,
            library: Some(library.clone()),
            output: plan.output.clone().map(|o| (o, s.every)),
            snapshot_dir: plan.output.clone().unwrap_or_else(|| PathBuf::from(".")),
            cycle: s.cycle,
            frames: s.frames,
            show_fps: s.show_fps,
            quiet: s.quiet,
        },
    )?;

    // SIGTERM (systemd's stop) and Ctrl-C end the run like the frame limit does: the
    // frame being written is finished, then the summary.
    {
        let shared = shared.clone();
        if let Err(e) = ctrlc::set_handler(move || shared.request_stop()) {
            eprintln!("warning: cannot handle SIGTERM/Ctrl-C ({e}); they end the run abruptly");
        }
    }

    let capture = spawn_stage("capture", &shared, {
        let shared = shared.clone();
        move || pipeline::capture_loop(source, shared)
    })?;
    let infer = spawn_stage("inference", &shared, {
        let shared = shared.clone();
        let (size, opts) = (s.infer_size, s.stylize);
        let library = library.clone();
        let smoother = stylecast::temporal::TemporalSmoother::new(s.smooth);
        move || pipeline::infer_loop(library, size, opts, smoother, shared)
    })?;
    let watch = match watcher {
        Some(w) => Some(spawn_stage("models", &shared, {
            let (shared, library) = (shared.clone(), library.clone());
            move || library::watch_loop(w, library, || shared.stopping())
        })?),
        None => None,
    };

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
    presenter.notify_stopping();
    shared.request_stop();
    // Both stages notice `stop` within one frame or one capture timeout; a stage stuck
    // in a driver call is left behind rather than holding the exit forever.
    let deadline = std::time::Instant::now() + STAGE_STOP_WAIT;
    let mut stages = vec![("inference", infer), ("capture", capture)];
    stages.extend(watch.map(|w| ("models", w)));
    for (name, stage) in stages {
        while !stage.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if stage.is_finished() {
            let _ = stage.join();
        } else {
            eprintln!(
                "warning: the {name} thread did not stop within {} s; exiting without it",
                STAGE_STOP_WAIT.as_secs()
            );
        }
    }
    if !s.quiet {
        crate::say::line(presenter.summary());
    }
    if crashed {
        bail!("a pipeline thread failed (see the message above); stopping so a supervisor can restart us");
    }
    result
}

/// How long the end of a run waits for the pipeline threads (more than a capture timeout).
const STAGE_STOP_WAIT: Duration = Duration::from_secs(5);

/// Loads every model that loads: a kiosk with one damaged file among its styles starts
/// with the others (a warning names it) instead of not starting at all; an error only
/// when none loads.
fn load_styles<T>(paths: &[PathBuf], load: impl Fn(&Path) -> Result<T>) -> Result<Vec<T>> {
    let mut styles = Vec::with_capacity(paths.len());
    let mut first_error = None;
    for p in paths {
        match load(p) {
            Ok(s) => styles.push(s),
            Err(e) if paths.len() > 1 => {
                eprintln!("warning: {e:#}; going on without it");
                first_error.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match first_error {
        Some(e) if styles.is_empty() => Err(e.context("no model could be loaded")),
        _ => Ok(styles),
    }
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

/// The source the settings ask for; see `--source` in the help.
fn open_source(s: &LiveSettings) -> Result<Box<dyn FrameSource>> {
    let (w, h) = s.camera_size;
    let camera = || -> Box<dyn FrameSource> {
        // With no camera yet, wait for the usual first node to appear.
        let path = s
            .camera
            .clone()
            .or_else(camera::find_default_camera)
            .unwrap_or_else(|| PathBuf::from("/dev/video0"));
        Box::new(CameraSource::new(&path, s.camera_size, s.fps))
    };
    let demo = || -> Result<Box<dyn FrameSource>> {
        match source::demo_photo() {
            Some(p) => Ok(Box::new(StillSource::open(&p, s.fps)?)),
            None => {
                if !s.quiet {
                    eprintln!(
                        "note: no demo photo (assets/demo.jpg) found; showing the test pattern"
                    );
                }
                Ok(Box::new(TestPattern::new(w, h, s.fps, s.pattern_time)))
            }
        }
    };
    Ok(match &s.source {
        Some(SourceChoice::Camera) => camera(),
        Some(SourceChoice::TestPattern) => Box::new(TestPattern::new(w, h, s.fps, s.pattern_time)),
        Some(SourceChoice::Demo) => demo()?,
        Some(SourceChoice::Images(path)) => Box::new(StillSource::open(path, s.fps)?),
        Some(SourceChoice::Video(path)) => Box::new(video_source::VideoSource::open(path)?),
        None if s.camera.is_some() || camera::any_camera_node() => camera(),
        None => demo()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn styles_that_load_are_kept_and_none_is_an_error() {
        let paths: Vec<PathBuf> = ["a", "bad", "c"].iter().map(PathBuf::from).collect();
        let load = |p: &Path| match p.to_str() {
            Some("bad") => bail!("bad: truncated"),
            Some(n) => Ok(n.to_string()),
            None => bail!("?"),
        };
        assert_eq!(load_styles(&paths, load).unwrap(), ["a", "c"]);
        let bad = vec![PathBuf::from("bad"), PathBuf::from("bad")];
        let e = format!("{:#}", load_styles(&bad, load).unwrap_err());
        assert!(
            e.contains("no model could be loaded") && e.contains("bad: truncated"),
            "{e}"
        );
        let e = format!("{:#}", load_styles(&bad[..1], load).unwrap_err());
        assert_eq!(e, "bad: truncated");
    }

    #[test]
    fn headless_needs_an_output() {
        assert!(
            format!("{:#}", SinkPlan::decide(true, None, false).err().unwrap())
                .contains("--output")
        );
        assert!(
            !SinkPlan::decide(true, Some("out".into()), false)
                .unwrap()
                .window
        );
    }
}
