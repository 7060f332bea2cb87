//! Reading video files as RGB frames: `ffprobe` says what a file holds, an `ffmpeg` process
//! decodes it to raw RGB over a pipe. No libav is linked; the `ffmpeg` package (ffmpeg and
//! ffprobe on the PATH, or `STYLECAST_FFMPEG`/`STYLECAST_FFPROBE`) is needed at run time only.
//! The one frame reader for edge-runtime's video mode and live `--source clip.mp4`, and for
//! `host-train eval --video`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Stdio};
use std::thread::JoinHandle;

use image::RgbImage;

use crate::error::{Error, Result};

/// What counts as a video file, by extension.
pub const VIDEO_EXTENSIONS: &[&str] = &["mp4", "mov", "mkv", "webm", "avi"];

/// Frames larger than 8K UHD are refused before any buffer is made.
pub const MAX_SIDE: u32 = 8192;

/// Bytes of an ffmpeg error kept for the message (its last lines say what went wrong).
const STDERR_KEEP: usize = 16 << 10;

pub fn is_video_path(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// What ffprobe says of a video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// The frame rate as ffmpeg writes it (`30000/1001`), for passing on unchanged.
    pub rate: String,
    pub fps: f64,
    /// The frame count the container declares, when it declares one.
    pub frames: Option<u64>,
    /// The first audio stream's codec, if there is audio.
    pub audio: Option<String>,
}

fn tool(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// The ffmpeg program: `STYLECAST_FFMPEG`, else `ffmpeg` on the PATH.
pub fn ffmpeg() -> String {
    tool("STYLECAST_FFMPEG", "ffmpeg")
}

/// The ffprobe program: `STYLECAST_FFPROBE`, else `ffprobe` on the PATH.
pub fn ffprobe() -> String {
    tool("STYLECAST_FFPROBE", "ffprobe")
}

/// Starts `name` (ffmpeg or ffprobe) in its own process group, so Ctrl-C reaches only us
/// and the caller stops ffmpeg in order. A missing program says how to install it.
pub fn spawn(cmd: &mut Command, name: &str) -> Result<Child> {
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Ffmpeg(format!(
                "{name} not found: video files need ffmpeg at run time. Install it \
                 (Debian, Ubuntu, JetPack, Raspberry Pi OS: `sudo apt-get install ffmpeg`) \
                 or point STYLECAST_FFMPEG and STYLECAST_FFPROBE at the programs"
            ))
        } else {
            Error::Ffmpeg(format!("cannot start {name}: {e}"))
        }
    })
}

/// Reads a video's size, rate, declared frame count and audio codec. A missing file, a
/// folder or a file ffmpeg cannot read is an error naming it.
pub fn probe(path: &Path) -> Result<VideoInfo> {
    // Checked here: ffprobe's own message for these is less clear.
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::video(path, "a folder, not a video file"));
    }
    let out = spawn(
        Command::new(ffprobe())
            .args(["-v", "error", "-show_entries"])
            .arg("stream=codec_type,codec_name,width,height,r_frame_rate,avg_frame_rate,nb_frames")
            .args(["-of", "json"])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
        "ffprobe",
    )?
    .wait_with_output()
    .map_err(|e| Error::Ffmpeg(format!("ffprobe: {e}")))?;
    if !out.status.success() {
        return Err(Error::video(
            path,
            format!(
                "not a video ffmpeg can read ({})",
                last_lines(&String::from_utf8_lossy(&out.stderr))
            ),
        ));
    }
    parse_probe(&out.stdout)
        .map_err(|reason| Error::video(path, format!("no readable video stream: {reason}")))
}

/// ffprobe's JSON to a [`VideoInfo`]; the error says what is missing or out of bounds.
pub fn parse_probe(json: &[u8]) -> std::result::Result<VideoInfo, String> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|_| "ffprobe's answer is not JSON".to_string())?;
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .ok_or("no video stream")?;
    let side = |k: &str| video[k].as_u64().filter(|&n| n > 0).map(|n| n as u32);
    let (width, height) = match (side("width"), side("height")) {
        (Some(w), Some(h)) => (w, h),
        _ => return Err("the video stream has no size".into()),
    };
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(format!(
            "{width}x{height} frames: larger than {MAX_SIDE}x{MAX_SIDE}, refused"
        ));
    }
    let rational = |k: &str| -> Option<(String, f64)> {
        let s = video[k].as_str()?;
        let (n, d) = s.split_once('/').unwrap_or((s, "1"));
        let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
        (n > 0.0 && d > 0.0 && (n / d) <= 1000.0).then(|| (s.to_string(), n / d))
    };
    let (rate, fps) = rational("avg_frame_rate")
        .or_else(|| rational("r_frame_rate"))
        .ok_or("the video stream has no frame rate")?;
    let frames = video["nb_frames"].as_str().and_then(|n| n.parse().ok());
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .map(|s| s["codec_name"].as_str().unwrap_or("").to_string());
    Ok(VideoInfo {
        width,
        height,
        rate,
        fps,
        frames,
        audio,
    })
}

/// The size frames are decoded at: the input's, or shrunk to `max_side`, even on both
/// sides where the input is (4:2:0 video needs it).
pub fn output_size(info: &VideoInfo, max_side: Option<u32>) -> (u32, u32) {
    let (w, h) = (info.width, info.height);
    match max_side {
        Some(m) if w.max(h) > m => {
            let s = m as f64 / w.max(h) as f64;
            let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
            (even(w as f64 * s), even(h as f64 * s))
        }
        _ => (w, h),
    }
}

/// Collects a child's stderr on a thread (bounded), so a chatty ffmpeg never blocks.
pub fn drain(err: Option<ChildStderr>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        if let Some(mut e) = err {
            let mut buf = [0u8; 4096];
            while let Ok(n) = e.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > STDERR_KEEP {
                    kept.drain(..kept.len() - STDERR_KEEP);
                }
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}

/// The last few lines of an ffmpeg error, on one line.
pub fn last_lines(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = &lines[lines.len().saturating_sub(3)..];
    if tail.is_empty() {
        "no message".into()
    } else {
        tail.join("; ")
    }
}

/// An ffmpeg process writing every frame of `input` as raw RGB at `(w, h)` to its stdout
/// (its stderr piped, for the caller to drain).
pub fn spawn_decoder(input: &Path, info: &VideoInfo, (w, h): (u32, u32)) -> Result<Child> {
    let mut dec = Command::new(ffmpeg());
    dec.args(["-v", "error", "-nostdin", "-i"])
        .arg(input)
        // Every decoded frame once: the output keeps the input's frame count.
        .args(["-map", "0:v:0", "-vsync", "passthrough"]);
    if (w, h) != (info.width, info.height) {
        dec.args(["-vf", &format!("scale={w}:{h}:flags=area")]);
    }
    dec.args(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    spawn(&mut dec, "ffmpeg")
}

/// Fills `buf` with one frame; false at a clean end of stream. A partial frame at the end
/// is the decoder failing mid-frame: reported when the decoder is waited for, dropped here.
pub fn read_frame(src: &mut impl Read, buf: &mut [u8]) -> std::io::Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// A video's frames in order, decoded by one ffmpeg process. Dropping it stops the process.
pub struct FrameReader {
    path: PathBuf,
    info: VideoInfo,
    size: (u32, u32),
    child: Child,
    out: Option<ChildStdout>,
    err: Option<JoinHandle<String>>,
    frames: u64,
}

impl FrameReader {
    /// Probes `path` and starts decoding it at its own size, or shrunk to `max_side`.
    pub fn open(path: &Path, max_side: Option<u32>) -> Result<Self> {
        let info = probe(path)?;
        let size = output_size(&info, max_side);
        Self::start(path, info, size)
    }

    /// Starts decoding an already probed video at `size`.
    pub fn start(path: &Path, info: VideoInfo, size: (u32, u32)) -> Result<Self> {
        let mut child = spawn_decoder(path, &info, size)?;
        let out = child.stdout.take();
        let err = Some(drain(child.stderr.take()));
        Ok(Self {
            path: path.to_path_buf(),
            info,
            size,
            child,
            out,
            err,
            frames: 0,
        })
    }

    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The size frames come at.
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// Frames read so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// Bytes of one frame (`read_into`'s buffer).
    pub fn frame_bytes(&self) -> usize {
        self.size.0 as usize * self.size.1 as usize * 3
    }

    /// Fills `buf` (`frame_bytes` long) with the next frame; false at the end of the stream.
    pub fn read_into(&mut self, buf: &mut [u8]) -> Result<bool> {
        if buf.len() != self.frame_bytes() {
            return Err(Error::Invalid(format!(
                "frame buffer of {} bytes for {}x{} frames",
                buf.len(),
                self.size.0,
                self.size.1
            )));
        }
        let Some(out) = self.out.as_mut() else {
            return Ok(false);
        };
        let more = read_frame(out, buf)
            .map_err(|e| Error::video(&self.path, format!("reading decoded frames: {e}")))?;
        if more {
            self.frames += 1;
        } else {
            self.out = None;
        }
        Ok(more)
    }

    /// The next frame, or `None` at the end of the stream.
    pub fn next_frame(&mut self) -> Result<Option<RgbImage>> {
        let mut buf = vec![0u8; self.frame_bytes()];
        if !self.read_into(&mut buf)? {
            return Ok(None);
        }
        let (w, h) = self.size;
        Ok(RgbImage::from_raw(w, h, buf))
    }

    /// Waits for the decoder after the last frame (or stops it early) and says whether it
    /// failed: a damaged file decodes part way, then ffmpeg exits non-zero.
    pub fn finish(mut self) -> Result<u64> {
        self.out = None;
        let status = self.child.wait();
        let msg = self.take_stderr();
        if !status.map(|s| s.success()).unwrap_or(false) {
            return Err(Error::video(
                &self.path,
                format!("ffmpeg could not decode it ({})", last_lines(&msg)),
            ));
        }
        Ok(self.frames)
    }

    /// Stops the decoder now and returns what it wrote to stderr.
    pub fn stop(mut self) -> String {
        self.kill();
        self.take_stderr()
    }

    fn take_stderr(&mut self) -> String {
        self.err
            .take()
            .and_then(|j| j.join().ok())
            .unwrap_or_default()
    }

    fn kill(&mut self) {
        self.out = None;
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        // Still running only when the caller stopped early or failed: stop it.
        if matches!(self.child.try_wait(), Ok(None)) {
            self.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers_are_read_and_bounded() {
        let json = br#"{"streams":[{"codec_type":"audio","codec_name":"aac"},
            {"codec_type":"video","codec_name":"h264","width":176,"height":144,
             "r_frame_rate":"30000/1001","avg_frame_rate":"30000/1001","nb_frames":"300"}]}"#;
        let i = parse_probe(json).unwrap();
        assert_eq!((i.width, i.height, i.frames), (176, 144, Some(300)));
        assert_eq!(i.rate, "30000/1001");
        assert!((i.fps - 29.97).abs() < 0.01);
        assert_eq!(i.audio.as_deref(), Some("aac"));
        let huge = br#"{"streams":[{"codec_type":"video","width":100000,"height":2,"r_frame_rate":"25/1"}]}"#;
        assert!(parse_probe(huge).unwrap_err().contains("larger than"));
        let no_rate =
            br#"{"streams":[{"codec_type":"video","width":10,"height":10,"r_frame_rate":"0/0"}]}"#;
        assert!(parse_probe(no_rate).unwrap_err().contains("frame rate"));
        assert!(parse_probe(br#"{"streams":[]}"#).is_err());
    }

    #[test]
    fn max_side_keeps_aspect_and_even_sides() {
        let i = parse_probe(br#"{"streams":[{"codec_type":"video","width":1920,"height":1080,"r_frame_rate":"25/1"}]}"#)
            .unwrap();
        assert_eq!(output_size(&i, None), (1920, 1080));
        assert_eq!(output_size(&i, Some(4000)), (1920, 1080));
        assert_eq!(output_size(&i, Some(640)), (640, 360));
        assert_eq!(output_size(&i, Some(333)), (334, 188));
    }

    #[test]
    fn a_missing_file_or_a_folder_is_named_before_ffprobe_runs() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.mp4");
        let e = probe(&missing).unwrap_err().to_string();
        assert!(e.contains("nope.mp4") && e.contains("no such file"), "{e}");
        let e = probe(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a folder"), "{e}");
    }
}
