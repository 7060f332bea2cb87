//! Live mode without a window: frames to files, the camera-fault path, image sources and
//! the kiosk settings file.

mod live_support;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use image::RgbImage;
use live_support::{mean_abs_diff, pngs, visible_model};
use stylecast_e2e::bin;

fn run(args: &[&str], model: &std::path::Path) -> Output {
    Command::new(bin("edge-runtime"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .arg("--model")
        .arg(model)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn missing_camera_shows_reconnecting_cards_instead_of_exiting() {
    let dir = tempfile::tempdir().unwrap();
    let model = visible_model(dir.path(), "visible", 40.0);
    let out_dir = dir.path().join("out");
    let t = Instant::now();
    let o = run(
        &[
            "--source",
            "camera",
            "--camera",
            "/dev/video_missing",
            "--camera-size",
            "160x120",
            "--headless",
            "--frames",
            "4",
            "--output",
            out_dir.to_str().unwrap(),
        ],
        &model,
    );
    assert!(o.status.success(), "{}", text(&o));
    // Cards come every 0.5 s while retrying: a few seconds, not a hang.
    assert!(t.elapsed() < Duration::from_secs(60));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("/dev/video_missing")
            && err.contains("retrying in 0.5 s")
            && err.contains("retrying in 1.0 s"),
        "{err}"
    );
    let files = pngs(&out_dir);
    assert_eq!(files.len(), 4);
    for f in &files {
        let img = image::open(f).unwrap().to_rgb8();
        assert_eq!(
            img.dimensions(),
            (160, 120),
            "the card has the camera's size"
        );
        // Mostly the card's dark background, with some bright text.
        let bg = img.pixels().filter(|p| p.0 == [24, 26, 34]).count();
        let text = img.pixels().filter(|p| p.0[0] > 200).count();
        assert!(
            bg > 160 * 120 / 2 && text > 30,
            "{}: not a card ({bg} background, {text} text pixels)",
            f.display()
        );
    }
}

#[test]
fn every_nth_frame_is_written_and_the_summary_printed() {
    let dir = tempfile::tempdir().unwrap();
    let model = visible_model(dir.path(), "visible", 40.0);
    let out_dir = dir.path().join("out");
    let o = run(
        &[
            "--source",
            "test-pattern",
            "--camera-size",
            "96x72",
            "--infer-size",
            "64x48",
            "--headless",
            "--frames",
            "5",
            "--every",
            "2",
            "--output",
            out_dir.to_str().unwrap(),
        ],
        &model,
    );
    assert!(o.status.success(), "{}", text(&o));
    let names: Vec<String> = pngs(&out_dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["frame_000001.png", "frame_000003.png", "frame_000005.png"]
    );
    // Written at the inference size.
    assert_eq!(
        image::open(out_dir.join("frame_000001.png"))
            .unwrap()
            .to_rgb8()
            .dimensions(),
        (64, 48)
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("summary:"))
        .unwrap_or_else(|| panic!("{}", text(&o)));
    for key in [
        "frames 5,",
        "seconds ",
        "fps ",
        "mean inference ",
        "dropped ",
    ] {
        assert!(line.contains(key), "{line}");
    }
}

#[test]
fn image_folder_is_a_source() {
    let dir = tempfile::tempdir().unwrap();
    let model = visible_model(dir.path(), "visible", 40.0);
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let photo = RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
    });
    photo.save(photos.join("a.png")).unwrap();
    let out_dir = dir.path().join("out");
    let o = run(
        &[
            "--source",
            photos.to_str().unwrap(),
            "--infer-size",
            "64x48",
            "--headless",
            "--frames",
            "1",
            "--strength",
            "0",
            "--output",
            out_dir.to_str().unwrap(),
        ],
        &model,
    );
    assert!(o.status.success(), "{}", text(&o));
    let got = image::open(out_dir.join("frame_000001.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(got, photo, "strength 0 shows the photo itself");

    let o = run(
        &[
            "--source",
            dir.path().join("nope").to_str().unwrap(),
            "--headless",
            "--output",
            "x",
        ],
        &model,
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nope"),
        "{}",
        text(&o)
    );
}

#[test]
fn kiosk_file_sets_options_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let model = visible_model(dir.path(), "visible", 40.0);
    let cfg = dir.path().join("kiosk.toml");
    std::fs::write(
        &cfg,
        format!(
            "model = {:?}\nsource = \"test-pattern\"\ncamera_size = \"96x72\"\ninfer_size = \"64x48\"\n\
             headless = true\noutput = \"frames\"\nframes = 3\nstrength = 0.0\npattern_time = 1.0\n",
            model.to_str().unwrap()
        ),
    )
    .unwrap();
    let o = Command::new(bin("edge-runtime"))
        .arg("--config")
        .arg(&cfg)
        .args(["--frames", "2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // The output folder is relative to the file; --frames 2 beat the file's 3.
    let files = pngs(&dir.path().join("frames"));
    assert_eq!(files.len(), 2, "{}", text(&o));
    let img = image::open(&files[0]).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (64, 48));

    std::fs::write(&cfg, "strenght = 0.5\n").unwrap();
    let o = Command::new(bin("edge-runtime"))
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("kiosk.toml") && err.contains("strenght"),
        "{err}"
    );
}

#[test]
fn cycle_switches_styles_over_time() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    visible_model(&models, "a_bright", 40.0);
    visible_model(&models, "b_inverse", -40.0);
    let out_dir = dir.path().join("out");
    let o = Command::new(bin("edge-runtime"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .arg("--models")
        .arg(&models)
        .args([
            "--source",
            "test-pattern",
            "--pattern-time",
            "1",
            "--camera-size",
            "64x48",
            "--infer-size",
            "64x48",
        ])
        .args([
            "--cycle",
            "1.5",
            "--headless",
            "--frames",
            "40",
            "--fps",
            "10",
            "--output",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let files = pngs(&out_dir);
    let first = image::open(&files[0]).unwrap().to_rgb8();
    // With a static input, any frame that differs from the first comes from the other style
    // (or the cross-fade towards it).
    let changed = files
        .iter()
        .filter(|f| mean_abs_diff(&image::open(f).unwrap().to_rgb8(), &first) > 10.0)
        .count();
    assert!(
        changed > 0,
        "the style never changed in {} frames; {}",
        files.len(),
        text(&o)
    );
}
