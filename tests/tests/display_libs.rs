//! docs/display.md's promise: the display libraries are loaded at run time, and a machine
//! where they cannot be loaded gets a clear error at start, never a panic; headless runs
//! need none of them.

use std::path::PathBuf;
use std::process::Command;

use stylecast_e2e::bin;

/// A real shared library with none of libX11's or libwayland's symbols, to stand in for
/// broken ones (glibc skips files that are not ELF, so an empty file would not do).
fn unrelated_shared_library() -> Option<PathBuf> {
    [
        "/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/lib64",
        "/usr/lib",
    ]
    .iter()
    .map(|d| PathBuf::from(d).join("libdl.so.2"))
    .find(|p| p.is_file())
}

#[test]
fn unusable_display_libraries_give_a_clear_error_and_headless_runs_need_none() {
    let lib = unrelated_shared_library().expect("libdl.so.2 in a standard library folder");
    let fake = tempfile::tempdir().unwrap();
    for name in [
        "libX11.so.6",
        "libX11.so",
        "libXcursor.so.1",
        "libwayland-client.so.0",
        "libwayland-client.so",
    ] {
        std::fs::copy(&lib, fake.path().join(name)).unwrap();
    }
    let run = |extra: &[&str]| {
        Command::new(bin("edge-runtime"))
            .args([
                "--models",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../models/small"),
            ])
            .args([
                "--source",
                "test-pattern",
                "--frames",
                "1",
                "--infer-size",
                "64x48",
            ])
            .args(extra)
            .env("DISPLAY", ":87")
            .env_remove("WAYLAND_DISPLAY")
            .env("LD_LIBRARY_PATH", fake.path())
            .output()
            .unwrap()
    };
    let o = run(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot open a window on the display"), "{err}");
    assert!(
        err.contains("--output"),
        "the error says what to do instead: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let out = tempfile::tempdir().unwrap();
    let o = run(&["--headless", "--output", out.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let written = stylecast::io::image::images_in(out.path()).unwrap();
    assert_eq!(written.len(), 1, "one frame written: {written:?}\n{err}");
}
