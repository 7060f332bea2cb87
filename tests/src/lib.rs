//! Helpers for the end-to-end tests: where the shared fixtures are, where the
//! binaries are, how to compare tensors.

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{DType, Device, Tensor};

/// The repository root (this crate lives in `<root>/tests`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `../shared` beside the checkout, or `$STYLECAST_SHARED`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("STYLECAST_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("..").join("shared"))
}

pub fn conformance(rel: &str) -> PathBuf {
    shared_dir().join("conformance").join(rel)
}

/// A built binary of the workspace, in the same profile as the tests.
pub fn bin(name: &str) -> PathBuf {
    // target/<profile>/deps/this-test -> target/<profile>/<name>
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|p| p.parent()).expect("target dir");
    let p = dir.join(name);
    assert!(p.exists(), "{} not built: run `cargo build --workspace --release` first (the README's test command does)", p.display());
    p
}

/// Loads all tensors of a safetensors file on the CPU.
pub fn load_tensors(path: &Path) -> std::collections::HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()))
}

/// Any tensor's values as a flat f32 vector.
pub fn to_f32_vec(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

/// max |a - b| / max |b|: the conformance README's relative error (`stylecast::compare`).
pub fn rel_err(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shape mismatch");
    stylecast::compare::max_rel_diff(a, b).unwrap() as f32
}

/// Whether ffmpeg and ffprobe run; without them a video test skips, loudly, unless
/// STYLECAST_REQUIRE_FFMPEG is set (CI), where it fails.
pub fn have_ffmpeg() -> bool {
    let ok = Command::new("ffmpeg")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("ffprobe")
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("STYLECAST_REQUIRE_FFMPEG").is_none(),
            "ffmpeg/ffprobe missing but STYLECAST_REQUIRE_FFMPEG is set (.ci/run installs ffmpeg)"
        );
        eprintln!(
            "\n!!!! SKIPPED: ffmpeg is missing (apt-get install ffmpeg); video test not run !!!!\n"
        );
    }
    ok
}

/// A folder with the first `n` training photos (symlinked: nothing is copied).
pub fn tiny_dataset(dir: &Path, n: usize) -> PathBuf {
    let src = shared_dir().join("data/content/train");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let ds = dir.join("photos");
    std::fs::create_dir_all(&ds).unwrap();
    for f in files.iter().take(n) {
        std::os::unix::fs::symlink(f, ds.join(f.file_name().unwrap())).unwrap();
    }
    ds
}
