//! Video files in and out (`--input clip.mp4 --output out.mp4`): one `ffmpeg` process decodes
//! the input to raw RGB frames over a pipe, a second encodes the stylized frames, and the
//! input's audio is copied across. No libav is linked; Debian's `ffmpeg` package (ffmpeg and
//! ffprobe on the PATH, or `STYLECAST_FFMPEG`/`STYLECAST_FFPROBE`) is needed at run time only.
//!
//! The output is written under a hidden temporary name beside its final one and renamed
//! when the encoder has finished, so a corrupt input, a full disk or Ctrl-C leaves no
//! half-written video under the final name (and an older result there stays intact).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use image::RgbImage;
use stylecast::{Precision, StylizeOptions, Stylizer};

use crate::files::{sanitize, FileSettings};
use crate::models::ModelChoice;

/// What `--input` takes as video, by extension.
pub const VIDEO_EXTENSIONS: &[&str] = &["mp4", "mov", "mkv", "webm", "avi"];

/// Frames larger than 8K UHD are refused before any buffer is made.
const MAX_SIDE: u32 = 8192;

/// Bytes of an ffmpeg error kept for the message (its last lines say what went wrong).
const STDERR_KEEP: usize = 16 << 10;

pub fn is_video_path(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The video files in a folder and its subfolders, sorted (`skip`: a folder not to enter,
/// e.g. the output folder).
pub fn videos_in(dir: &Path, skip: &Path) -> Vec<PathBuf> {
    stylecast::io::image::walk_files(dir, &[skip.to_path_buf()], is_video_path).images
}

/// The checked options of a video run; images given alongside go through file mode after.
#[derive(Debug, Clone)]
pub struct VideoSettings {
    pub videos: Vec<PathBuf>,
    /// A folder, or a file name with a video extension (one input video).
    pub output: PathBuf,
    pub models: ModelChoice,
    pub device: String,
    pub precision: Precision,
    pub stylize: StylizeOptions,
    pub quiet: bool,
    /// `--smooth`: the temporal filter's amount (0: off).
    pub smooth: f32,
    pub images: Option<FileSettings>,
}

/// What ffprobe says of a video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    /// The frame rate as ffmpeg writes it (`30000/1001`), passed on unchanged.
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

fn ffmpeg() -> String {
    tool("STYLECAST_FFMPEG", "ffmpeg")
}

fn ffprobe() -> String {
    tool("STYLECAST_FFPROBE", "ffprobe")
}

fn spawn(cmd: &mut Command, name: &str) -> Result<Child> {
    // Its own process group: Ctrl-C reaches only us, and we stop ffmpeg in order.
    std::os::unix::process::CommandExt::process_group(cmd, 0);
    cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow!(
                "{name} not found: video files need ffmpeg at run time. Install it \
                 (Debian, Ubuntu, JetPack, Raspberry Pi OS: `sudo apt-get install ffmpeg`) \
                 or point STYLECAST_FFMPEG and STYLECAST_FFPROBE at the programs"
            )
        } else {
            anyhow!("cannot start {name}: {e}")
        }
    })
}

/// Reads a video's size, rate, declared frame count and audio codec.
pub fn probe(path: &Path) -> Result<VideoInfo> {
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
    .context("ffprobe")?;
    if !out.status.success() {
        bail!(
            "{}: not a video ffmpeg can read ({})",
            path.display(),
            last_lines(&String::from_utf8_lossy(&out.stderr))
        );
    }
    parse_probe(&out.stdout)
        .with_context(|| format!("{}: no readable video stream", path.display()))
}

fn parse_probe(json: &[u8]) -> Result<VideoInfo> {
    let v: serde_json::Value =
        serde_json::from_slice(json).context("ffprobe's answer is not JSON")?;
    let streams = v["streams"].as_array().cloned().unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video")
        .ok_or_else(|| anyhow!("no video stream"))?;
    let side = |k: &str| video[k].as_u64().filter(|&n| n > 0).map(|n| n as u32);
    let (width, height) = match (side("width"), side("height")) {
        (Some(w), Some(h)) => (w, h),
        _ => bail!("the video stream has no size"),
    };
    if width > MAX_SIDE || height > MAX_SIDE {
        bail!("{width}x{height} frames: larger than {MAX_SIDE}x{MAX_SIDE}, refused");
    }
    let rational = |k: &str| -> Option<(String, f64)> {
        let s = video[k].as_str()?;
        let (n, d) = s.split_once('/').unwrap_or((s, "1"));
        let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
        (n > 0.0 && d > 0.0 && (n / d) <= 1000.0).then(|| (s.to_string(), n / d))
    };
    let (rate, fps) = rational("avg_frame_rate")
        .or_else(|| rational("r_frame_rate"))
        .ok_or_else(|| anyhow!("the video stream has no frame rate"))?;
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

/// The size frames are stylized and written at: the input's, or shrunk to `max_side`,
/// even on both sides where the input is (4:2:0 video needs it).
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

/// The muxer, video codec options and audio handling for an output extension.
fn encoder_args(ext: &str, audio: Option<&str>, even: bool) -> Vec<String> {
    let (muxer, video): (&str, &[&str]) = match ext {
        "webm" => ("webm", &["-c:v", "libvpx-vp9", "-crf", "30", "-b:v", "0"]),
        "avi" => ("avi", &["-c:v", "mpeg4", "-q:v", "3"]),
        "mov" => ("mov", &["-c:v", "libx264", "-crf", "18", "-preset", "fast"]),
        "mkv" => (
            "matroska",
            &["-c:v", "libx264", "-crf", "18", "-preset", "fast"],
        ),
        _ => ("mp4", &["-c:v", "libx264", "-crf", "18", "-preset", "fast"]),
    };
    let mut a: Vec<String> = video.iter().map(|s| s.to_string()).collect();
    if even {
        a.extend(["-pix_fmt", "yuv420p"].map(String::from));
    }
    if let Some(codec) = audio {
        // Copied where the container takes the codec, else re-encoded once.
        let copy = match ext {
            "mkv" => true,
            "webm" => matches!(codec, "opus" | "vorbis"),
            "avi" => matches!(codec, "mp3" | "ac3") || codec.starts_with("pcm_"),
            _ => matches!(codec, "aac" | "mp3" | "alac" | "ac3" | "opus"),
        };
        let enc = match (copy, ext) {
            (true, _) => "copy",
            (false, "webm") => "libopus",
            (false, "avi") => "libmp3lame",
            _ => "aac",
        };
        a.extend(["-map", "1:a:0", "-c:a", enc].map(String::from));
    }
    a.extend(["-f", muxer].map(String::from));
    a
}

/// Stylizes every video with every model, then the images given with them.
pub fn run(s: &VideoSettings) -> Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // A second Ctrl-C gives up at once; the first finishes cleanly (no partial file).
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }
    let models = s.models.paths()?;
    let device = stylecast::parse_device(&s.device)?;
    let jobs = plan_outputs(&s.videos, &s.output, models.len())?;
    // Each video probed once, before any model is loaded: a bad one fails at once.
    let infos = jobs
        .iter()
        .map(|(input, _)| probe(input))
        .collect::<Result<Vec<_>>>()?;
    for m in &models {
        let stylizer = Stylizer::load(m, &device, s.precision)?;
        let style = sanitize(&stylizer.meta().style);
        for ((input, out), info) in jobs.iter().zip(&infos) {
            let dst = out(&style);
            let frames = stylize_video(&stylizer, input, info, &dst, s, &stop)?;
            if !s.quiet {
                eprintln!("{} -> {} ({frames} frames)", input.display(), dst.display());
            }
        }
    }
    if let Some(images) = &s.images {
        crate::files::run(images)?;
    }
    Ok(())
}

type OutputName = Box<dyn Fn(&str) -> PathBuf>;

/// Each input with the function naming its output for a style. `--output out.mp4` (one input)
/// is used as is for one model and gets `_<style>` for several; a folder gets
/// `<stem>_<style>.<ext>` per input, and two inputs that would share a name are refused.
fn plan_outputs(
    videos: &[PathBuf],
    output: &Path,
    models: usize,
) -> Result<Vec<(PathBuf, OutputName)>> {
    if videos.is_empty() {
        bail!("no video files among the inputs");
    }
    let ext_of = |p: &Path| {
        p.extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_else(|| "mp4".into())
    };
    if is_video_path(output) && !output.is_dir() {
        if videos.len() > 1 {
            bail!(
                "--output {} is one video file but {} videos were given: give a folder",
                output.display(),
                videos.len()
            );
        }
        let out = output.to_path_buf();
        let name: OutputName = Box::new(move |style| {
            if models == 1 {
                out.clone()
            } else {
                let stem = out.file_stem().unwrap_or_default().to_string_lossy();
                out.with_file_name(format!("{stem}_{style}.{}", ext_of(&out)))
            }
        });
        return Ok(vec![(videos[0].clone(), name)]);
    }
    let mut seen: std::collections::HashMap<String, &PathBuf> = Default::default();
    let mut plan = Vec::new();
    for v in videos {
        let stem = v
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let ext = ext_of(v);
        if let Some(first) = seen.insert(format!("{stem}.{ext}"), v) {
            bail!(
                "{} and {} would write to the same output name in {}: stylize them in separate runs",
                first.display(),
                v.display(),
                output.display()
            );
        }
        let dir = output.to_path_buf();
        let name: OutputName = Box::new(move |style| dir.join(format!("{stem}_{style}.{ext}")));
        plan.push((v.clone(), name));
    }
    Ok(plan)
}

/// One video through one model; returns the frame count written.
fn stylize_video(
    st: &Stylizer,
    input: &Path,
    info: &VideoInfo,
    dst: &Path,
    s: &VideoSettings,
    stop: &AtomicBool,
) -> Result<u64> {
    let (w, h) = output_size(info, s.stylize.max_side);
    if let Some(dir) = dst.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create folder", dir.display()))?;
    }
    let tmp = partial_name(dst);
    let mut run = Transcode::start(input, info, (w, h), &tmp)?;
    let result = run.frames(st, (w, h), s, info, stop);
    let finished = run.finish();
    match result.and_then(|n| finished.map(|_| n)) {
        Ok(n) => {
            if let Some(want) = info.frames.filter(|&want| n < want) {
                let _ = std::fs::remove_file(&tmp);
                bail!(
                    "{}: truncated or damaged: its header declares {want} frames, only {n} could be decoded; nothing written",
                    input.display()
                );
            }
            std::fs::rename(&tmp, dst)
                .with_context(|| format!("{}: cannot write", dst.display()))?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            if stop.load(Ordering::SeqCst) {
                bail!("interrupted: {} not written", dst.display());
            }
            Err(e.context(format!(
                "{}: nothing written to {}",
                input.display(),
                dst.display()
            )))
        }
    }
}

/// `dir/.out.mp4.partial-<pid>`: hidden, beside the final name (so the rename is atomic).
fn partial_name(dst: &Path) -> PathBuf {
    let name = dst.file_name().unwrap_or_default().to_string_lossy();
    dst.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// The decoder and encoder processes of one video.
struct Transcode {
    input: PathBuf,
    decoder: Child,
    encoder: Child,
    dec_err: Option<std::thread::JoinHandle<String>>,
    enc_err: Option<std::thread::JoinHandle<String>>,
}

/// Collects a child's stderr on a thread (bounded), so a chatty ffmpeg never blocks.
pub fn drain(err: Option<ChildStderr>) -> std::thread::JoinHandle<String> {
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

impl Transcode {
    fn start(input: &Path, info: &VideoInfo, (w, h): (u32, u32), tmp: &Path) -> Result<Self> {
        let mut decoder = spawn_decoder(input, info, (w, h))?;
        let ext = tmp_ext(tmp);
        let mut enc = Command::new(ffmpeg());
        enc.args([
            "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
        ])
        .args([
            "-s",
            &format!("{w}x{h}"),
            "-r",
            &info.rate,
            "-i",
            "pipe:0",
            "-i",
        ])
        .arg(input)
        .args(["-map", "0:v:0"])
        .args(encoder_args(
            &ext,
            info.audio.as_deref(),
            w % 2 == 0 && h % 2 == 0,
        ))
        .arg(tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        let mut encoder = match spawn(&mut enc, "ffmpeg") {
            Ok(e) => e,
            Err(e) => {
                let _ = decoder.kill();
                let _ = decoder.wait();
                return Err(e);
            }
        };
        let dec_err = Some(drain(decoder.stderr.take()));
        let enc_err = Some(drain(encoder.stderr.take()));
        Ok(Self {
            input: input.to_path_buf(),
            decoder,
            encoder,
            dec_err,
            enc_err,
        })
    }

    /// Decoded frame -> stylized frame -> encoder, until the decoder's output ends.
    fn frames(
        &mut self,
        st: &Stylizer,
        (w, h): (u32, u32),
        s: &VideoSettings,
        info: &VideoInfo,
        stop: &AtomicBool,
    ) -> Result<u64> {
        let frame_bytes = w as usize * h as usize * 3;
        let mut src = self.decoder.stdout.take().context("decoder output")?;
        let mut sink = self.encoder.stdin.take().context("encoder input")?;
        let pb = progress(info.frames, s.quiet, &self.input);
        let opts = StylizeOptions {
            max_side: None,
            ..s.stylize
        };
        let mut buf = vec![0u8; frame_bytes];
        let mut smoother = stylecast::temporal::TemporalSmoother::new(s.smooth);
        let mut n = 0u64;
        loop {
            if stop.load(Ordering::SeqCst) {
                bail!("interrupted");
            }
            if !read_frame(&mut src, &mut buf)? {
                break;
            }
            let img = RgbImage::from_raw(w, h, std::mem::take(&mut buf)).context("frame buffer")?;
            let out = smoother.apply(&img, st.stylize(&img, &opts)?);
            buf = img.into_raw();
            if sink.write_all(out.as_raw()).is_err() {
                // The encoder stopped: finish() reports why.
                break;
            }
            n += 1;
            pb.inc(1);
        }
        pb.finish_and_clear();
        drop(sink);
        Ok(n)
    }

    /// Waits for both processes; an error says which one failed and why.
    fn finish(mut self) -> Result<()> {
        let dec = self.decoder.wait();
        let enc = self.encoder.wait();
        let dec_msg = self
            .dec_err
            .take()
            .and_then(|j| j.join().ok())
            .unwrap_or_default();
        let enc_msg = self
            .enc_err
            .take()
            .and_then(|j| j.join().ok())
            .unwrap_or_default();
        if !dec.map(|s| s.success()).unwrap_or(false) {
            bail!("ffmpeg could not decode it ({})", last_lines(&dec_msg));
        }
        if !enc.map(|s| s.success()).unwrap_or(false) {
            bail!(
                "ffmpeg could not encode the output ({})",
                last_lines(&enc_msg)
            );
        }
        Ok(())
    }
}

impl Drop for Transcode {
    fn drop(&mut self) {
        // Reached with the processes still running only on an early error: stop them.
        for c in [&mut self.decoder, &mut self.encoder] {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
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
/// is the decoder failing mid-frame: reported by `finish`, dropped here.
pub fn read_frame(src: &mut impl Read, buf: &mut [u8]) -> Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => return Ok(false),
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(anyhow!("reading decoded frames: {e}")),
        }
    }
    Ok(true)
}

fn tmp_ext(tmp: &Path) -> String {
    // `.out.mp4.partial-123`: the extension before `.partial-`.
    let name = tmp.file_name().unwrap_or_default().to_string_lossy();
    let base = name
        .rsplit_once(".partial-")
        .map(|(b, _)| b)
        .unwrap_or(&name);
    Path::new(base)
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_else(|| "mp4".into())
}

fn progress(frames: Option<u64>, quiet: bool, input: &Path) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let pb = match frames {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::no_length(),
    };
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} frames, {per_sec}, ETA {eta}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    pb.set_style(style.progress_chars("=> "));
    pb.set_message(
        input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );
    pb
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
        assert!(format!("{:#}", parse_probe(huge).unwrap_err()).contains("larger than"));
        let no_rate =
            br#"{"streams":[{"codec_type":"video","width":10,"height":10,"r_frame_rate":"0/0"}]}"#;
        assert!(format!("{:#}", parse_probe(no_rate).unwrap_err()).contains("frame rate"));
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
    fn audio_is_copied_where_the_container_takes_it() {
        let a = |ext, codec| encoder_args(ext, Some(codec), true).join(" ");
        assert!(a("mp4", "aac").contains("-c:a copy"));
        assert!(a("mp4", "pcm_s16le").contains("-c:a aac"));
        assert!(a("webm", "aac").contains("-c:a libopus"));
        assert!(a("mkv", "pcm_s16le").contains("-c:a copy"));
        assert!(!encoder_args("mp4", None, true).join(" ").contains("-c:a"));
        assert!(!encoder_args("mp4", None, false)
            .join(" ")
            .contains("yuv420p"));
    }

    #[test]
    fn outputs_never_collide() {
        let v = |s: &str| PathBuf::from(s);
        let plan = plan_outputs(&[v("a/clip.mp4"), v("b/other.mov")], Path::new("out"), 2).unwrap();
        assert_eq!(plan[0].1("starry"), v("out/clip_starry.mp4"));
        assert_eq!(plan[1].1("starry"), v("out/other_starry.mov"));
        let e = plan_outputs(&[v("a/clip.mp4"), v("b/clip.mp4")], Path::new("out"), 1)
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("same output name"), "{e:#}");
        let one = plan_outputs(&[v("clip.mkv")], Path::new("x/out.mp4"), 1).unwrap();
        assert_eq!(one[0].1("s"), v("x/out.mp4"));
        let two = plan_outputs(&[v("clip.mkv")], Path::new("x/out.mp4"), 2).unwrap();
        assert_eq!(two[0].1("s"), v("x/out_s.mp4"));
        assert!(plan_outputs(&[v("a.mp4"), v("b.mp4")], Path::new("o.mp4"), 1).is_err());
        assert_eq!(tmp_ext(&partial_name(Path::new("d/o.webm"))), "webm");
    }
}
