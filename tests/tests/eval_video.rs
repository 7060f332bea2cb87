//! `host-train eval --video` (issue 22): the warping error of a model on a clip made here
//! with ffmpeg (a slow zoom over a test photo), beside the input's own floor and the
//! `--smooth` row; the table, JSON and plot it writes; a missing clip and a file that is
//! not a video are named. Skipped without ffmpeg unless STYLECAST_REQUIRE_FFMPEG is set.

use std::path::{Path, PathBuf};
use std::process::Command;

use host_train::eval_video::{evaluate_video, VideoEvalOptions};
use stylecast_e2e::{bin, have_ffmpeg, repo_root, shared_dir};

fn small_model() -> PathBuf {
    repo_root().join("models/small/starry_night.safetensors")
}

/// An 80x64, 8-frame clip: ffmpeg's zoompan slowly into a test photo.
fn zoom_clip(path: &Path) {
    let photo = shared_dir().join("data/content/test/chicago.jpg");
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-loop", "1", "-i"])
        .arg(&photo)
        .args([
            "-vf",
            "scale=320:-2,zoompan=z='1+0.004*on':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=8:s=80x64:fps=10",
            "-frames:v",
            "8",
            "-c:v",
            "libx264",
            "-crf",
            "12",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_model_flickers_above_the_input_floor_on_a_zoom() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("zoom.mp4");
    zoom_clip(&clip);
    let s = evaluate_video(&VideoEvalOptions {
        models: vec![small_model()],
        videos: vec![clip.clone()],
        max_side: None,
        max_frames: None,
        smooth: vec![0.5],
        device: "cpu".into(),
    })
    .unwrap();
    let names: Vec<&str> = s.iter().map(|r| r.output.as_str()).collect();
    assert_eq!(
        names,
        [
            "input",
            "starry_night.safetensors",
            "starry_night.safetensors + smooth 0.5"
        ]
    );
    let (input, model, smooth) = (&s[0], &s[1], &s[2]);
    for r in &s {
        assert_eq!((r.width, r.height, r.frames), (80, 64, 8), "{}", r.output);
        assert_eq!(r.per_frame.len(), 7);
        assert_eq!(r.pairs, 7, "every pair has trusted pixels");
        assert!(r.warp_error.is_finite() && r.warp_mse.is_finite());
    }
    assert!(
        input.coverage > 0.5,
        "flow trusted on {:.2}",
        input.coverage
    );
    // The input follows its own flow: a small floor. The network repaints strokes that
    // do not move with the picture.
    assert!(input.warp_error < 6.0, "{}", input.warp_error);
    assert!(
        model.warp_error > input.warp_error,
        "model {} vs input {}",
        model.warp_error,
        input.warp_error
    );
    assert!(
        smooth.warp_error < model.warp_error,
        "smooth {} vs model {}",
        smooth.warp_error,
        model.warp_error
    );
}

#[test]
fn the_cli_writes_a_table_json_and_plot_and_stops_at_max_frames() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("zoom.mp4");
    zoom_clip(&clip);
    let (json, png) = (dir.path().join("s.json"), dir.path().join("s.png"));
    let o = Command::new(bin("host-train"))
        .arg("eval")
        .arg(small_model())
        .arg("--video")
        .arg(&clip)
        .args(["--max-frames", "4", "--max-side", "40"])
        .arg("--json")
        .arg(&json)
        .arg("--plot")
        .arg(&png)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("input (identity, the floor)") && out.contains("warp error"),
        "{out}"
    );
    assert!(out.contains("40x32, 4 frames"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(v["photos"].is_null());
    let rows = v["video"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["frames"], 4);
    assert_eq!(rows[1]["per_frame"].as_array().unwrap().len(), 3);
    let plot = stylecast::io::image::load_rgb(&png).unwrap();
    assert!(plot.width() > 200 && plot.height() > 200);
}

#[test]
fn a_missing_clip_or_a_non_video_is_named() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let run = |clip: &Path| {
        let o = Command::new(bin("host-train"))
            .arg("eval")
            .arg(small_model())
            .arg("--video")
            .arg(clip)
            .output()
            .unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let missing = dir.path().join("missing.mp4");
    let e = run(&missing);
    assert!(
        e.contains("missing.mp4") && e.contains("no such file"),
        "{e}"
    );
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video\n").unwrap();
    let e = run(&text);
    assert!(e.contains("notes.mp4") && e.contains("not a video"), "{e}");
    assert!(!e.contains("panicked"), "{e}");
}
