//! Live mode in a real window under Xvfb: what the window shows is the frame stylized
//! by the library; and the no-display paths fail clearly.

mod live_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use candle_core::Device;
use image::RgbImage;
use live_support::{mean_abs_diff, shrink, visible_model, KillOnDrop, Xvfb};
use stylecast::{Precision, StylizeOptions, Stylizer};
use stylecast_e2e::bin;

/// The test pattern frozen at one time: every frame is this picture.
const PATTERN: [&str; 6] = [
    "--source",
    "test-pattern",
    "--pattern-time",
    "2.5",
    "--camera-size",
    "160x120",
];

/// The unstylized pattern frame, written by the runtime itself (strength 0 is the input).
fn pattern_frame(model: &Path, dir: &Path) -> RgbImage {
    let out = dir.join("pattern");
    let st = Command::new(bin("edge-runtime"))
        .arg("--model")
        .arg(model)
        .args(PATTERN)
        .args([
            "--infer-size",
            "160x120",
            "--headless",
            "--frames",
            "1",
            "--strength",
            "0",
            "--quiet",
            "--output",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    image::open(out.join("frame_000001.png")).unwrap().to_rgb8()
}

/// Captures the window until it shows `expected` (within `tol`) or `timeout` passes;
/// returns the last capture.
fn wait_for(
    x: &Xvfb,
    grab: impl Fn(&Xvfb) -> Option<RgbImage>,
    expected: impl Fn(&RgbImage) -> f64,
    tol: f64,
    timeout: Duration,
) -> RgbImage {
    let t = Instant::now();
    let mut last = None;
    while t.elapsed() < timeout {
        if let Some(img) = grab(x) {
            let d = expected(&img);
            last = Some(img);
            if d < tol {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    last.expect("the window never appeared")
}

#[test]
fn window_shows_the_stylized_test_pattern() {
    let Some(x) = Xvfb::start(800, 600) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = visible_model(dir.path(), "visible", 40.0);
    let pattern = pattern_frame(&model, dir.path());
    let stylizer = Stylizer::load(&model, &Device::Cpu, Precision::F32).unwrap();
    let expected = stylizer
        .stylize(&pattern, &StylizeOptions::default())
        .unwrap();
    assert!(
        mean_abs_diff(&expected, &pattern) > 20.0,
        "the model must change the picture for this test to mean anything"
    );

    let log = dir.path().join("log.txt");
    let _child = KillOnDrop(
        Command::new(bin("edge-runtime"))
            .env("DISPLAY", &x.display)
            .env_remove("WAYLAND_DISPLAY")
            .arg("--model")
            .arg(&model)
            .args(PATTERN)
            .args(["--infer-size", "160x120", "--fps", "10"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let shot = wait_for(
        &x,
        |x| {
            x.capture_window("stylecast")
                .filter(|i| i.dimensions() == (160, 120))
        },
        |i| mean_abs_diff(i, &expected),
        1.0,
        Duration::from_secs(120),
    );
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    if std::env::var_os("STYLECAST_KEEP").is_some() {
        shot.save("/tmp/live_window_capture.png").unwrap();
        expected.save("/tmp/live_window_expected.png").unwrap();
    }
    assert_eq!(
        shot.dimensions(),
        (160, 120),
        "window size; runtime log:\n{log}"
    );
    let to_expected = mean_abs_diff(&shot, &expected);
    let to_pattern = mean_abs_diff(&shot, &pattern);
    assert!(
        to_expected < 1.0,
        "window differs from the library's stylized frame by {to_expected:.2}; log:\n{log}"
    );
    assert!(
        to_pattern > 20.0,
        "window looks like the unstylized pattern ({to_pattern:.2})"
    );
}

#[test]
fn fullscreen_window_covers_the_screen_with_the_scaled_frame() {
    let Some(x) = Xvfb::start(640, 480) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = visible_model(dir.path(), "visible", 40.0);
    let pattern = pattern_frame(&model, dir.path());
    let stylizer = Stylizer::load(&model, &Device::Cpu, Precision::F32).unwrap();
    let expected = stylizer
        .stylize(&pattern, &StylizeOptions::default())
        .unwrap();

    let _child = KillOnDrop(
        Command::new(bin("edge-runtime"))
            .env("DISPLAY", &x.display)
            .env_remove("WAYLAND_DISPLAY")
            .arg("--model")
            .arg(&model)
            .args(PATTERN)
            .args(["--infer-size", "160x120", "--fps", "10", "--fullscreen"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("log.txt")).unwrap())
            .spawn()
            .unwrap(),
    );
    // 640x480 is the 160x120 frame scaled by 4: averaging 4x4 blocks undoes it closely.
    let shot = wait_for(
        &x,
        |x| x.capture_root(),
        |i| mean_abs_diff(&shrink(i, 4), &expected),
        4.0,
        Duration::from_secs(120),
    );
    let d = mean_abs_diff(&shrink(&shot, 4), &expected);
    if std::env::var_os("STYLECAST_KEEP").is_some() {
        shot.save("/tmp/live_fullscreen_capture.png").unwrap();
    }
    let log = std::fs::read_to_string(dir.path().join("log.txt")).unwrap_or_default();
    assert!(
        d < 4.0,
        "the screen {} does not show the scaled stylized frame (diff {d:.2}); log:\n{log}",
        x.display
    );
}

#[test]
fn no_display_is_a_clear_error_pointing_to_output() {
    let dir = tempfile::tempdir().unwrap();
    let model = visible_model(dir.path(), "visible", 40.0);
    let out = Command::new(bin("edge-runtime"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .arg("--model")
        .arg(&model)
        .args(PATTERN)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail without a display");
    assert!(err.contains("--output") && err.contains("display"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unreachable_display_is_a_clear_error_pointing_to_output() {
    let dir = tempfile::tempdir().unwrap();
    let model = visible_model(dir.path(), "visible", 40.0);
    let out = Command::new(bin("edge-runtime"))
        .env("DISPLAY", ":4077")
        .env_remove("WAYLAND_DISPLAY")
        .arg("--model")
        .arg(&model)
        .args(PATTERN)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "should fail when the window cannot open"
    );
    assert!(err.contains("--output") && err.contains("window"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn no_display_with_output_runs_headless() {
    let dir = tempfile::tempdir().unwrap();
    let model = visible_model(dir.path(), "visible", 40.0);
    let out = Command::new(bin("edge-runtime"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .arg("--model")
        .arg(&model)
        .args(PATTERN)
        .args(["--infer-size", "64x48", "--frames", "2", "--output"])
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(live_support::pngs(&dir.path().join("out")).len(), 2);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("summary: frames 2,"), "{stdout}");
}
