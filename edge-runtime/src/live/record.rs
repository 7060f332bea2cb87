//! Pictures written to files: every Nth frame of a live run (`--output DIR --every N`,
//! also the headless sinks) and the `s` key's snapshots.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use image::RgbImage;
use stylecast::io::image::save_png;

use super::throttle::Throttle;

/// `--output DIR --every N`: writes every Nth picture as `frame_NNNNNN.png`, numbered on
/// from the highest frame number already in the folder, so a restarted kiosk or a second
/// run never writes over an earlier run's frames.
pub struct FrameWriter {
    dir: PathBuf,
    every: u64,
    /// The highest frame number in the folder when the run started.
    start: u64,
    seen: u64,
    /// Frames to skip before the next write.
    skip: u64,
    pub written: u64,
    warn: Throttle,
}

impl FrameWriter {
    /// Fails when `dir` cannot be created or written, so a run that could save nothing
    /// stops at start instead of running on without a word.
    pub fn new(dir: &Path, every: u64) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create output folder", dir.display()))?;
        check_writable(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            every: every.max(1),
            start: last_frame_number(dir),
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
        let path = self
            .dir
            .join(format!("frame_{:06}.png", self.start + self.seen));
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

/// Creates and removes a file in `dir`: the one sure test that frames can be saved there.
fn check_writable(dir: &Path) -> Result<()> {
    let probe = dir.join(format!(".stylecast-write-test-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| format!("{}: cannot write frames into this folder", dir.display()))?;
    // Removing our own fresh file does not fail where creating it worked.
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The highest N of the `frame_N.png` files in `dir`, 0 if none.
fn last_frame_number(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| {
            let name = e.ok()?.file_name();
            let n = name
                .to_str()?
                .strip_prefix("frame_")?
                .strip_suffix(".png")?;
            n.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0)
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
        // A second run numbers on after the first one's frames.
        let mut w = FrameWriter::new(&dir.path().join("out"), 1).unwrap();
        w.offer(&RgbImage::new(2, 2));
        assert!(dir.path().join("out/frame_000008.png").exists());
        assert_eq!(
            std::fs::read_dir(dir.path().join("out")).unwrap().count(),
            4
        );
    }

    #[test]
    fn an_unwritable_folder_fails_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let e = FrameWriter::new(&file, 1).err().unwrap();
        assert!(format!("{e:#}").contains("a-file"), "{e:#}");
        let e = FrameWriter::new(Path::new("/proc/stylecast-frames"), 1)
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("/proc/stylecast-frames"), "{e:#}");
        // A folder that exists but takes no files (even for root).
        let e = FrameWriter::new(Path::new("/proc"), 1).err().unwrap();
        assert!(
            format!("{e:#}").contains("/proc: cannot write frames"),
            "{e:#}"
        );
    }
}
