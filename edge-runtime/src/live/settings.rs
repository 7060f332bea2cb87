//! The options of one live run, checked: built once from the command line and the kiosk
//! file (see `cli.rs`), then only read. Plain values, so the pipeline does not depend on
//! how they were given.

use std::path::{Path, PathBuf};

use stylecast::{Precision, StylizeOptions};

use crate::models::ModelChoice;

/// Everything `live::run` needs to know.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub models: ModelChoice,
    /// `--style`: the one style or blend of each model; None: every style it holds.
    pub style: Option<String>,
    /// None: the camera if there is one, else the demo photo.
    pub source: Option<SourceChoice>,
    /// The v4l2 device; None: the first one found.
    pub camera: Option<PathBuf>,
    pub camera_size: (u32, u32),
    pub fps: u32,
    /// A fixed scene time for the test pattern.
    pub pattern_time: Option<f64>,
    /// The network's input size.
    pub infer_size: (u32, u32),
    /// The `--device` spec (cpu, cuda, cuda:N), opened when the run starts.
    pub device: String,
    pub precision: Precision,
    /// Strength and colour preservation are where the viewer's controls start.
    pub stylize: StylizeOptions,
    /// Folder for frames (and snapshots).
    pub output: Option<PathBuf>,
    /// Write every Nth frame to `output`.
    pub every: u64,
    pub headless: bool,
    pub fullscreen: bool,
    /// Seconds between style switches.
    pub cycle: Option<f64>,
    /// Stop after this many frames.
    pub frames: Option<u64>,
    pub show_fps: bool,
    pub quiet: bool,
    /// `--smooth`: the temporal filter's amount (0: off).
    pub smooth: f32,
}

/// `--source`: a keyword or an image file or folder.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceChoice {
    Camera,
    TestPattern,
    Demo,
    /// An image file, or a folder shown as a slideshow.
    Images(PathBuf),
    /// A video file, looped at its own frame rate.
    Video(PathBuf),
}

impl SourceChoice {
    pub fn parse(s: &str) -> Self {
        match s {
            "camera" => Self::Camera,
            "test-pattern" => Self::TestPattern,
            "demo" => Self::Demo,
            path if crate::video::is_video_path(Path::new(path)) => {
                Self::Video(PathBuf::from(path))
            }
            path => Self::Images(PathBuf::from(path)),
        }
    }
}
