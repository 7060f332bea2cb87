//! The aarch64 (Jetson, Raspberry Pi) build of edge-runtime, run under qemu-user, must give the
//! same picture as the library on x86-64: within one level per pixel (different SIMD kernels and
//! FMA contraction may round a few values the other way, nothing more).
//!
//! Needs a cross-built binary: `scripts/cross-aarch64.sh` builds one and runs this test with
//! `STYLECAST_AARCH64_BIN` pointing at it. Without that variable the test says so loudly and
//! passes, so plain `cargo test --workspace` stays runnable on machines without the cross tools.
//!
//! Optional: `STYLECAST_QEMU` (the emulator; default `qemu-aarch64`, then `qemu-aarch64-static`
//! from PATH), `STYLECAST_AARCH64_SYSROOT` (default `/usr/aarch64-linux-gnu`, Debian's
//! libc6-arm64-cross).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use image::RgbImage;
use stylecast::io::image::{load_rgb, psnr};
use stylecast::{Precision, StylizeOptions, Stylizer};
use stylecast_e2e::{conformance, shared_dir};

/// The emulator: `$STYLECAST_QEMU`, else the first of qemu-aarch64 / qemu-aarch64-static on PATH.
fn find_qemu() -> Option<PathBuf> {
    if let Some(q) = std::env::var_os("STYLECAST_QEMU") {
        return Some(PathBuf::from(q));
    }
    let path = std::env::var_os("PATH")?;
    ["qemu-aarch64", "qemu-aarch64-static"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// (max |a-b| over all channels, number of values that differ)
fn max_abs_diff(a: &RgbImage, b: &RgbImage) -> (u8, usize) {
    assert_eq!(a.dimensions(), b.dimensions(), "size mismatch");
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .fold((0u8, 0usize), |(m, n), (&x, &y)| {
            let d = x.abs_diff(y);
            (m.max(d), n + (d != 0) as usize)
        })
}

fn assert_close(what: &str, got: &RgbImage, want: &RgbImage) {
    let (max, n) = max_abs_diff(got, want);
    let p = psnr(got, want);
    eprintln!(
        "aarch64_qemu: {what}: max abs diff {max}, {n} of {} values differ, PSNR {p:.1} dB",
        got.as_raw().len()
    );
    assert!(
        max <= 1,
        "{what}: max abs pixel difference {max} > 1 (PSNR {p:.1} dB)"
    );
    assert!(p >= 50.0, "{what}: PSNR {p:.1} dB < 50 dB");
}

/// Runs an edge-runtime binary in file mode, under `qemu -L sysroot` when given, and reads
/// back its PNG.
fn run_edge_runtime(
    qemu: Option<(&Path, &std::ffi::OsStr)>,
    exe: &Path,
    model: &Path,
    input: &Path,
    out: &Path,
) -> RgbImage {
    let (cmd, mut c) = match qemu {
        Some((q, sysroot)) => {
            let mut c = Command::new(q);
            c.arg("-L").arg(sysroot).arg(exe);
            (q, c)
        }
        None => (exe, Command::new(exe)),
    };
    let t = Instant::now();
    let o = c
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .arg("--model")
        .arg(model)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(out)
        .arg("--quiet")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cmd.display()));
    assert!(
        o.status.success(),
        "{} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        exe.display(),
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!(
        "aarch64_qemu: {} took {:.1} s",
        exe.display(),
        t.elapsed().as_secs_f64()
    );
    let pngs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert_eq!(
        pngs.len(),
        1,
        "expected one PNG in {}, found {pngs:?}",
        out.display()
    );
    load_rgb(&pngs[0]).unwrap()
}

#[test]
fn aarch64_build_under_qemu_matches_the_library() {
    let Some(bin) = std::env::var_os("STYLECAST_AARCH64_BIN").map(PathBuf::from) else {
        // Straight to the process's stderr: libtest's capture only takes print!/eprint!, so this
        // shows in a plain `cargo test` run too, not just with --nocapture.
        use std::io::Write;
        let _ = std::io::stderr().write_all(
            b"\n!!!! SKIPPED aarch64_qemu: STYLECAST_AARCH64_BIN is not set, the aarch64 build was NOT checked.\n\
              !!!! Run scripts/cross-aarch64.sh (cross-builds edge-runtime, runs this test under qemu-aarch64).\n\n",
        );
        return;
    };
    assert!(
        bin.is_file(),
        "STYLECAST_AARCH64_BIN={} is not a file",
        bin.display()
    );
    let qemu = find_qemu().expect(
        "STYLECAST_AARCH64_BIN is set but no qemu-aarch64 or qemu-aarch64-static on PATH \
         (apt-get install qemu-user-static, or set STYLECAST_QEMU)",
    );
    let sysroot = std::env::var_os("STYLECAST_AARCH64_SYSROOT")
        .unwrap_or_else(|| "/usr/aarch64-linux-gnu".into());
    assert!(
        Path::new(&sysroot).join("lib/ld-linux-aarch64.so.1").exists(),
        "{}: no aarch64 loader (apt-get install libc6-arm64-cross, or set STYLECAST_AARCH64_SYSROOT)",
        Path::new(&sysroot).display()
    );

    let dir = tempfile::tempdir().unwrap();
    let src = load_rgb(&shared_dir().join("data/content/test/coffee.jpg")).unwrap();
    let img = image::imageops::resize(&src, 96, 64, image::imageops::FilterType::Triangle);
    let photo = dir.path().join("coffee_96x64.png");
    img.save(&photo).unwrap();
    let img = load_rgb(&photo).unwrap();
    let model = conformance("transformer_net/model.safetensors");

    let want = Stylizer::load(&model, &candle_core::Device::Cpu, Precision::F32)
        .unwrap()
        .stylize(&img, &StylizeOptions::default())
        .unwrap();

    let out = dir.path().join("out-aarch64");
    let got = run_edge_runtime(Some((&qemu, &sysroot)), &bin, &model, &photo, &out);
    assert_eq!(got.dimensions(), (96, 64));
    assert_close(
        "aarch64 (qemu) vs library (x86-64, in process)",
        &got,
        &want,
    );

    // The x86-64 binary of the same profile, if it was built (cargo test --workspace builds it).
    let exe = std::env::current_exe().unwrap();
    let host_bin = exe
        .parent()
        .and_then(|p| p.parent())
        .unwrap()
        .join(format!("edge-runtime{}", std::env::consts::EXE_SUFFIX));
    if host_bin.is_file() {
        let out = dir.path().join("out-host");
        let host = run_edge_runtime(None, &host_bin, &model, &photo, &out);
        assert_close("aarch64 (qemu) vs x86-64 edge-runtime", &got, &host);
    } else {
        eprintln!(
            "aarch64_qemu: note: {} not built; compared with the library only",
            host_bin.display()
        );
    }
}
