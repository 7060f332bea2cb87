//! Video files through edge-runtime (issue 22): frame count, rate, size and audio kept; a
//! damaged input gives an error naming it and leaves no output; a missing ffmpeg says how
//! to install it. The clips are made here with ffmpeg's lavfi (testsrc + sine).

use std::path::{Path, PathBuf};
use std::process::Command;

use stylecast_e2e::{bin, have_ffmpeg};

fn small_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/small/starry_night.safetensors")
}

/// `edge-runtime --model <small> --input IN --output OUT`, its command for more arguments.
fn stylize_cmd(input: &Path, output: &Path) -> Command {
    let mut c = Command::new(bin("edge-runtime"));
    c.arg("--model")
        .arg(small_model())
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output);
    c
}

/// A 96x64, 12 fps, 2 s clip with a 440 Hz tone.
fn make_clip(path: &Path) {
    make_clip_with(path, &[]);
}

fn make_clip_with(path: &Path, extra: &[&str]) {
    let o = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=96x64:rate=12:duration=2",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:duration=2"])
        .args([
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ])
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// ffprobe's view: (width, height, rate, frames counted by decoding, audio codec).
fn probe(path: &Path) -> (u64, u64, String, u64, Option<String>) {
    let o = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-show_entries"])
        .arg("stream=codec_type,codec_name,width,height,r_frame_rate,nb_read_frames")
        .args(["-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let streams = v["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    let audio = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .map(|s| s["codec_name"].as_str().unwrap().to_string());
    (
        video["width"].as_u64().unwrap(),
        video["height"].as_u64().unwrap(),
        video["r_frame_rate"].as_str().unwrap().to_string(),
        video["nb_read_frames"].as_str().unwrap().parse().unwrap(),
        audio,
    )
}

/// Frame `n` of a video as RGB.
fn frame(path: &Path, n: u32, dir: &Path) -> image::RgbImage {
    let png = dir.join(format!("frame{n}.png"));
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(path)
        .args(["-vf", &format!("select=eq(n\\,{n})"), "-frames:v", "1"])
        .arg(&png)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    stylecast::io::image::load_rgb(&png).unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_video_keeps_its_frames_rate_size_and_sound() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    make_clip(&clip);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("styled.mp4");
    let o = stylize_cmd(&clip, &out).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        probe(&clip),
        (96, 64, "12/1".into(), 24, Some("aac".into()))
    );
    assert_eq!(probe(&out), probe(&clip), "{err}");
    // Stylized, not passed through: frame 5 is far from the input's frame 5.
    let (a, b) = (frame(&clip, 5, dir.path()), frame(&out, 5, dir.path()));
    let psnr = stylecast::io::image::psnr(&a, &b);
    assert!(
        psnr < 20.0,
        "output frame looks like the input (PSNR {psnr:.1} dB)"
    );
    // Only the result is left: no temporary file beside it.
    assert_eq!(files_in(&out_dir), vec!["styled.mp4"]);
}

#[test]
fn a_damaged_video_is_an_error_and_leaves_nothing() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    make_clip(&clip);
    let bytes = std::fs::read(&clip).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    // Cut in half: with the index at the end it is lost (ffmpeg cannot open the file); with
    // the index first (faststart) the first half decodes and the count falls short of it.
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let fast = dir.path().join("fast.mp4");
    make_clip_with(&fast, &["-movflags", "+faststart"]);
    let fast_bytes = std::fs::read(&fast).unwrap();
    let fast_cut = dir.path().join("fast_cut.mp4");
    std::fs::write(&fast_cut, &fast_bytes[..fast_bytes.len() / 2]).unwrap();
    let junk = dir.path().join("junk.mkv");
    std::fs::write(&junk, vec![0x5au8; 50_000]).unwrap();
    for bad in [&cut, &fast_cut, &junk] {
        let o = stylize_cmd(&bad, &out_dir).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&bad.display().to_string()),
            "names the file: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            files_in(&out_dir).is_empty(),
            "left {:?}",
            files_in(&out_dir)
        );
    }
}

#[test]
fn a_missing_ffmpeg_says_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    std::fs::write(&clip, b"not looked at").unwrap();
    let o = stylize_cmd(&clip, &dir.path().join("out.mp4"))
        .env("STYLECAST_FFMPEG", "/nonexistent/ffmpeg")
        .env("STYLECAST_FFPROBE", "/nonexistent/ffprobe")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("apt-get install ffmpeg"), "{err}");
    assert!(!dir.path().join("out.mp4").exists());
}

#[test]
fn live_mode_loops_a_video_source() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("one_second.mp4");
    let o = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=96x64:rate=12:duration=1",
        ])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&clip)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.path().join("frames");
    let mut child = Command::new(bin("edge-runtime"))
        .arg("--models")
        .arg(small_model().parent().unwrap())
        .arg("--source")
        .arg(&clip)
        .args([
            "--headless",
            "--frames",
            "30",
            "--infer-size",
            "96x64",
            "--output",
        ])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > std::time::Duration::from_secs(90) {
            let _ = child.kill();
            panic!("a 12-frame clip did not give 30 frames in 90 s: it does not loop");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("looped"), "{err}");
    // More frames than the clip holds: it started over.
    let written = stylecast::io::image::images_in(&out).unwrap();
    assert!(
        written.len() > 12,
        "{} frames written\n{err}",
        written.len()
    );
}

/// Every frame of a video as raw RGB bytes.
fn raw_frames(path: &Path, w: usize, h: usize) -> Vec<Vec<u8>> {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    o.stdout
        .chunks_exact(w * h * 3)
        .map(<[u8]>::to_vec)
        .collect()
}

/// Mean absolute change between successive frames (0..255).
fn frame_change(frames: &[Vec<u8>]) -> f64 {
    let (mut sum, mut n) = (0u64, 0u64);
    for p in frames.windows(2) {
        for (a, b) in p[0].iter().zip(&p[1]) {
            sum += a.abs_diff(*b) as u64;
            n += 1;
        }
    }
    sum as f64 / n.max(1) as f64
}

#[test]
fn smooth_steadies_a_still_scene() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A still wall under sensor noise: the network repaints its strokes every frame.
    let clip = dir.path().join("still.mp4");
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i"])
        .arg("color=c=0x8a7a60:size=96x64:rate=12:duration=1,noise=alls=10:allf=t")
        .args(["-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p"])
        .arg(&clip)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let change = |smooth: &str| {
        let out = dir.path().join(format!("out_{smooth}.mp4"));
        let o = stylize_cmd(&clip, &out)
            .args(["--smooth", smooth, "--quiet"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        frame_change(&raw_frames(&out, 96, 64))
    };
    let (plain, smoothed) = (change("0"), change("0.8"));
    assert!(
        smoothed < 0.7 * plain,
        "--smooth 0.8 left a frame-to-frame change of {smoothed:.2} against {plain:.2} without"
    );
    // Out of range is refused by the flag's parser.
    let o = Command::new(bin("edge-runtime"))
        .args(["--smooth", "1.5", "--input"])
        .arg(&clip)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("outside 0..1"));
}
