//! A running kiosk takes up styles copied into its models folder (issue 25 item 3): a
//! half-copied file is skipped and taken once complete, with no restart and no gap in the
//! frames, and a folder emptied of models keeps the last good styles.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stylecast_e2e::bin;

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

/// The child's stderr, collected as it comes.
fn collect(child: &mut Child) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let mut err = child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    log
}

fn wait_for(what: &str, secs: u64, mut ok: impl FnMut() -> bool, log: &Mutex<String>) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "waited {secs} s for {what}; log:\n{}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn frames(dir: &Path) -> Vec<PathBuf> {
    stylecast::io::image::images_in(dir).unwrap_or_default()
}

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn styles_copied_into_the_folder_are_taken_up_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("models");
    std::fs::create_dir(&lib).unwrap();
    std::fs::copy(
        models().join("small/starry_night.safetensors"),
        lib.join("a.safetensors"),
    )
    .unwrap();
    // A damaged model at start is skipped with a warning: the kiosk starts with the rest.
    std::fs::write(
        lib.join("0_damaged.safetensors"),
        b"\x08\x00\x00\x00\x00\x00\x00\x00{}",
    )
    .unwrap();
    let out = dir.path().join("frames");
    let mut child = Command::new(bin("edge-runtime"))
        .arg("--models")
        .arg(&lib)
        .args([
            "--source",
            "test-pattern",
            "--pattern-time",
            "1.0",
            "--fps",
            "15",
        ])
        .args([
            "--infer-size",
            "64x48",
            "--headless",
            "--cycle",
            "0.5",
            "--output",
        ])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect(&mut child);
    let child = Kill(child);
    wait_for("the first frames", 60, || frames(&out).len() >= 3, &log);
    assert!(
        log.lock()
            .unwrap()
            .contains("0_damaged.safetensors: cannot load model"),
        "{}",
        log.lock().unwrap()
    );
    // The pattern is frozen: with one style every frame is the same picture.
    let first = stylecast::io::image::load_rgb(&frames(&out)[0]).unwrap();

    // Half a model file, as a copy in progress leaves it: skipped with a line, not taken.
    let scream = std::fs::read(models().join("the_scream.safetensors")).unwrap();
    let b = lib.join("b.safetensors");
    std::fs::write(&b, &scream[..scream.len() / 2]).unwrap();
    wait_for(
        "the half file to be refused",
        30,
        || {
            log.lock()
                .unwrap()
                .contains("b.safetensors: cannot load model")
        },
        &log,
    );
    assert!(
        !log.lock().unwrap().contains("styles reloaded"),
        "{}",
        log.lock().unwrap()
    );

    // The copy completes: the style is taken up, by the same process.
    std::fs::write(&b, &scream).unwrap();
    wait_for(
        "the reload",
        30,
        || log.lock().unwrap().contains("styles reloaded"),
        &log,
    );
    assert!(
        log.lock().unwrap().contains("[starry_night, the_scream]"),
        "{}",
        log.lock().unwrap()
    );
    let before = frames(&out).len();
    wait_for(
        "frames in the new style",
        60,
        || {
            frames(&out)[before..].iter().any(|f| {
                stylecast::io::image::load_rgb(f).is_ok_and(|img| {
                    img.dimensions() == first.dimensions()
                        && stylecast::io::image::psnr(&img, &first) < 30.0
                })
            })
        },
        &log,
    );

    // Every model removed: the last good styles keep running.
    std::fs::remove_file(lib.join("a.safetensors")).unwrap();
    std::fs::remove_file(&b).unwrap();
    std::fs::remove_file(lib.join("0_damaged.safetensors")).unwrap();
    wait_for(
        "the empty-folder note",
        30,
        || log.lock().unwrap().contains("keeping the last good styles"),
        &log,
    );
    let n = frames(&out).len();
    wait_for(
        "frames after the folder emptied",
        30,
        || frames(&out).len() > n + 3,
        &log,
    );
    // All of it in the one process started at the beginning.
    let mut child = child;
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "{}",
        log.lock().unwrap()
    );
}
