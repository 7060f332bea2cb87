//! Typed errors for the library. Every error that comes from a user-supplied file names it.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The io error is part of the message, not a `source`: printed once, not twice.
    #[error("{}: {}", path.display(), describe_io(err))]
    Io { path: PathBuf, err: std::io::Error },
    /// A file that is not what it should be before its contents are looked at (a device,
    /// a FIFO, too large).
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("{}: not a readable image: {reason}", path.display())]
    Image { path: PathBuf, reason: String },
    #[error("{}: invalid model file: {reason}", path.display())]
    Model { path: PathBuf, reason: String },
    #[error("{}: no images (jpg, png, webp) in this folder or below", dir.display())]
    NoImages { dir: PathBuf },
    #[error("{}: no .safetensors models in this folder", dir.display())]
    NoModels { dir: PathBuf },
    /// A video file that cannot be read as frames (missing, not a video, damaged).
    #[error("{}: {reason}", path.display())]
    Video { path: PathBuf, reason: String },
    /// ffmpeg or ffprobe missing or failing to start: says how to install it.
    #[error("{0}")]
    Ffmpeg(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }
    pub fn file(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::File {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
    pub fn image(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::Image {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
    pub fn video(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::Video {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
    pub fn model(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::Model {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
