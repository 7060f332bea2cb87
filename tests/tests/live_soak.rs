//! A bounded soak: about a minute of the moving test pattern through a small network to
//! a window (under Xvfb; headless when Xvfb is missing) and to files, sampling resident
//! memory. Memory must level off after warm-up, latency must not build up, and the
//! runtime must keep running. STYLECAST_SOAK_SECS changes the length.

mod live_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use live_support::{visible_model, KillOnDrop, Xvfb};
use stylecast_e2e::bin;

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The "latency N ms" of each 10-second log line.
fn latencies(log: &str) -> Vec<f64> {
    log.lines()
        .filter(|l| l.starts_with("live: ") && l.contains(" fps,"))
        .filter_map(|l| l.split("latency ").nth(1)?.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn soak_memory_stays_flat() {
    let secs: u64 = std::env::var("STYLECAST_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let warmup = (secs / 6).max(5);
    let xvfb = Xvfb::start(320, 240);
    let dir = tempfile::tempdir().unwrap();
    let model = visible_model(dir.path(), "visible", 40.0);
    let log = dir.path().join("log.txt");
    let mut cmd = Command::new(bin("edge-runtime"));
    cmd.env_remove("WAYLAND_DISPLAY")
        .arg("--model")
        .arg(&model)
        .args([
            "--source",
            "test-pattern",
            "--camera-size",
            "160x120",
            "--infer-size",
            "64x48",
            "--fps",
            "30",
        ])
        .args(["--show-fps", "--every", "1000", "--output"])
        .arg(dir.path().join("out"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    match &xvfb {
        Some(x) => cmd.env("DISPLAY", &x.display),
        None => cmd.env_remove("DISPLAY").arg("--headless"),
    };
    let mut child = KillOnDrop(cmd.spawn().unwrap());
    let pid = child.0.id();

    let start = Instant::now();
    let mut samples: Vec<(u64, u64)> = Vec::new();
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(2));
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!(
                "runtime exited during the soak ({status}); log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        if let Some(kib) = rss_kib(pid) {
            samples.push((start.elapsed().as_secs(), kib));
        }
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    eprintln!("RSS samples (s, KiB): {samples:?}");
    eprintln!("runtime log:\n{log_text}");

    // The allocator hands big buffers back and takes them again, so RSS saw-tooths by tens
    // of MB from frame to frame; a leak shows as the level rising. Compare the peaks and
    // the medians of the first and second half after warm-up.
    let after: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= warmup)
        .map(|s| s.1)
        .collect();
    assert!(after.len() >= 6, "too few samples");
    let (early, late) = after.split_at(after.len() / 2);
    let median = |v: &[u64]| {
        let mut v = v.to_vec();
        v.sort();
        v[v.len() / 2]
    };
    let peak_growth = late
        .iter()
        .max()
        .unwrap()
        .saturating_sub(*early.iter().max().unwrap()) as f64
        / 1024.0;
    let median_growth = median(late).saturating_sub(median(early)) as f64 / 1024.0;
    assert!(
        peak_growth < 20.0 && median_growth < 20.0,
        "resident memory grew after warm-up: peak +{peak_growth:.1} MiB, median +{median_growth:.1} MiB"
    );

    // Frames kept coming, and the newest-frame-wins pipeline kept latency from growing.
    let lat = latencies(&log_text);
    assert!(
        lat.len() as u64 >= secs / 10 - 2,
        "missing 10-second log lines:\n{log_text}"
    );
    let first = lat[0].max(1.0);
    let last = *lat.last().unwrap();
    assert!(
        last < (3.0 * first).max(1000.0),
        "latency grew from {first} to {last} ms:\n{log_text}"
    );
    assert!(
        !log_text.contains(" 0.0 fps"),
        "frames stopped:\n{log_text}"
    );
    // --every 1000 wrote at least the first frame.
    assert!(!live_support::pngs(&dir.path().join("out")).is_empty());
}
