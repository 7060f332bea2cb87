//! A video file as a live source (`--source clip.mp4`): decoded by an ffmpeg process
//! (`stylecast::io::video::FrameReader`), paced at the clip's own frame rate, and looped
//! from the start when it ends, so an installation can run on footage instead of a camera.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image::RgbImage;
use stylecast::io::video::{last_lines, FrameReader};

use super::source::{Frame, FrameSource, Pacer, Pixels};
use crate::video::{self, VideoInfo};

/// Frames are decoded at most this large: the network runs at --infer-size anyway.
const MAX_SIDE: u32 = 1280;

pub struct VideoSource {
    path: PathBuf,
    info: VideoInfo,
    size: (u32, u32),
    pacer: Pacer,
    decoder: Option<FrameReader>,
    buf: Vec<u8>,
    /// Frames since the last (re)start: a clip that yields none is an error, not a loop.
    since_start: u64,
}

impl VideoSource {
    pub fn open(path: &Path) -> Result<Self> {
        let info = video::probe(path)?;
        let size = video::output_size(&info, Some(MAX_SIDE));
        let fps = info.fps.round().clamp(1.0, 240.0) as u32;
        Ok(Self {
            path: path.to_path_buf(),
            size,
            pacer: Pacer::new(fps),
            buf: vec![0; size.0 as usize * size.1 as usize * 3],
            info,
            decoder: None,
            since_start: 0,
        })
    }

    fn stop_decoder(&mut self) -> String {
        self.decoder
            .take()
            .map(FrameReader::stop)
            .unwrap_or_default()
    }
}

impl Drop for VideoSource {
    fn drop(&mut self) {
        self.stop_decoder();
    }
}

impl FrameSource for VideoSource {
    fn describe(&self) -> String {
        format!(
            "video {} {}x{} at {:.2} fps (looped)",
            self.path.display(),
            self.size.0,
            self.size.1,
            self.info.fps
        )
    }
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn next_frame(&mut self) -> Result<Frame> {
        self.pacer.wait();
        for _attempt in 0..2 {
            if self.decoder.is_none() {
                self.decoder = Some(FrameReader::start(
                    &self.path,
                    self.info.clone(),
                    self.size,
                )?);
                self.since_start = 0;
            }
            let Some(decoder) = self.decoder.as_mut() else {
                continue;
            };
            if decoder.read_into(&mut self.buf)? {
                self.since_start += 1;
                let (w, h) = self.size;
                let img = RgbImage::from_raw(w, h, self.buf.clone()).context("frame buffer")?;
                return Ok(Frame::new(Pixels::Rgb(img)));
            }
            // The end of the clip: start again, unless it gave nothing at all.
            let decoded = self.since_start;
            let msg = self.stop_decoder();
            if decoded == 0 {
                bail!(
                    "{}: no frames could be decoded ({})",
                    self.path.display(),
                    last_lines(&msg)
                );
            }
        }
        bail!("{}: the clip ended at once twice", self.path.display())
    }
}
