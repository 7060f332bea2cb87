//! Pictures written to files: every Nth frame of a live run (`--output DIR --every N`,
//! also the headless sinks) and the `s` key's snapshots.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use image::RgbImage;
use stylecast::io::image::save_png;

use super::throttle::Throttle;

/// `--output DIR --every N`: writes every Nth picture as `frame_NNNNNN.png`.
pub struct FrameWriter {
    dir: PathBuf,
    every: u64,
    seen: u64,
    /// Frames to skip before the next write.
    skip: u64,
    pub written: u64,
    warn: Throttle,
}

impl FrameWriter {
    pub fn new(dir: &Path, every: u64) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create output folder", dir.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            every: every.max(1),
            seen: 0,
            skip: 0,
            written: 0,
            warn: Throttle::new(Duration::from_secs(10)),
        })
    }

    /// A write failure (disk full, folder removed) is reported, not fatal: a kiosk keeps
    /// showing frames.
    pub fn offer(&mut self, pic: &RgbImage) {
        self.seen += 1;
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        self.skip = self.every - 1;
        let path = self.dir.join(format!("frame_{:06}.png", self.seen));
        match save_png(pic, &path) {
            Ok(()) => self.written += 1,
            Err(e) => {
                if self.warn.ready() {
                    eprintln!("warning: {}: {e}", path.display());
                }
            }
        }
    }
}

/// `s`: a PNG named by the time, in `dir`.
pub fn save_snapshot(dir: &Path, pic: &RgbImage) -> Result<PathBuf> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let path = dir.join(format!("snapshot_{ms}.png"));
    save_png(pic, &path).with_context(|| format!("{}: cannot save snapshot", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_keeps_every_nth_frame() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = FrameWriter::new(&dir.path().join("out"), 3).unwrap();
        for _ in 0..7 {
            w.offer(&RgbImage::new(2, 2));
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["frame_000001.png", "frame_000004.png", "frame_000007.png"]
        );
        assert_eq!(w.written, 3);
    }
}
