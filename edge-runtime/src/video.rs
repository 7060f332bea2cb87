//! Video files in and out (`--input clip.mp4 --output out.mp4`): the library's frame reader
//! (`stylecast::io::video`, one `ffmpeg` process) decodes the input to raw RGB frames over a
//! pipe, a second `ffmpeg` here encodes the stylized frames, and the input's audio is copied
//! across. No libav is linked; Debian's `ffmpeg` package (ffmpeg and ffprobe on the PATH, or
//! `STYLECAST_FFMPEG`/`STYLECAST_FFPROBE`) is needed at run time only.
//!
//! The output is written under a hidden temporary name beside its final one and renamed
//! when the encoder has finished, so a corrupt input, a full disk or Ctrl-C leaves no
//! half-written video under the final name (and an older result there stays intact).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use image::RgbImage;
use stylecast::io::video::{drain, ffmpeg, last_lines, spawn, FrameReader};
use stylecast::{Precision, StylizeOptions, Stylizer};

pub use stylecast::io::video::{is_video_path, output_size, probe, VideoInfo};

use crate::files::FileSettings;
use crate::models::ModelChoice;

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
    /// `--style`: the style or blend of a multi-style model; without it, every style.
    pub style: Option<String>,
    pub images: Option<FileSettings>,
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
    // Each video probed once, before any model is loaded: a bad one fails at once.
    let infos = s
        .videos
        .iter()
        .map(|input| Ok(probe(input)?))
        .collect::<Result<Vec<_>>>()?;
    // Every style of every model (or the one --style names), as file mode does; names
    // two entries would share get the file's name, so no output overwrites another.
    let entries = crate::models::load_entries(&models, &device, s.precision, s.style.as_deref())?;
    let names = crate::files::entry_tags(&entries);
    let jobs = plan_outputs(&s.videos, &s.output, entries.len())?;
    for (entry, style) in entries.iter().zip(&names) {
        let stylizer = &entry.stylizer;
        for ((input, out), info) in jobs.iter().zip(&infos) {
            let dst = out(style);
            let frames = stylize_video(stylizer, input, info, &dst, s, &stop)?;
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
    decoder: Option<FrameReader>,
    encoder: Child,
    enc_err: Option<std::thread::JoinHandle<String>>,
}

impl Transcode {
    fn start(input: &Path, info: &VideoInfo, (w, h): (u32, u32), tmp: &Path) -> Result<Self> {
        // The decoder first: dropped (and stopped) if the encoder cannot start.
        let decoder = FrameReader::start(input, info.clone(), (w, h))?;
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
        let mut encoder = spawn(&mut enc, "ffmpeg")?;
        let enc_err = Some(drain(encoder.stderr.take()));
        Ok(Self {
            input: input.to_path_buf(),
            decoder: Some(decoder),
            encoder,
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
        let decoder = self.decoder.as_mut().context("decoder")?;
        let mut sink = self.encoder.stdin.take().context("encoder input")?;
        let pb = progress(info.frames, s.quiet, &self.input);
        let opts = StylizeOptions {
            max_side: None,
            ..s.stylize
        };
        let mut buf = vec![0u8; decoder.frame_bytes()];
        let mut smoother = stylecast::temporal::TemporalSmoother::new(s.smooth);
        let mut n = 0u64;
        loop {
            if stop.load(Ordering::SeqCst) {
                bail!("interrupted");
            }
            if !decoder.read_into(&mut buf)? {
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
        let dec = match self.decoder.take() {
            Some(d) => d.finish().map(|_| ()),
            None => Ok(()),
        };
        let enc = self.encoder.wait();
        let enc_msg = self
            .enc_err
            .take()
            .and_then(|j| j.join().ok())
            .unwrap_or_default();
        dec?;
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
        // Reached with the encoder still running only on an early error: stop it (the
        // decoder stops itself when dropped).
        if matches!(self.encoder.try_wait(), Ok(None)) {
            let _ = self.encoder.kill();
            let _ = self.encoder.wait();
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
