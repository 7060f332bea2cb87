//! Every kind of bad input gets an error naming the file and the problem, a non-zero
//! exit code, and no panic: through the library and through the command lines.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{DType, Device, Tensor};
use stylecast::io::image::load_rgb;
use stylecast::ModelFile;
use stylecast_e2e::{bin, conformance, shared_dir};

fn model_path() -> PathBuf {
    conformance("transformer_net/model.safetensors")
}

/// Runs edge-runtime on one input and returns (exit code, stderr).
fn run_edge(model: &Path, input: &Path) -> (i32, String) {
    let out = tempfile::tempdir().unwrap();
    let o = Command::new(bin("edge-runtime"))
        .arg("--model")
        .arg(model)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(out.path())
        .arg("--quiet")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn expect_failure(model: &Path, input: &Path, culprit: &Path, words: &[&str]) {
    let (code, err) = run_edge(model, input);
    assert_ne!(code, 0, "should fail: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert!(
        err.contains(&culprit.display().to_string()),
        "error should name {}: {err}",
        culprit.display()
    );
    let lower = err.to_lowercase();
    assert!(
        words.iter().any(|w| lower.contains(w)),
        "error should say one of {words:?}: {err}"
    );
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut v = (data.len() as u32).to_be_bytes().to_vec();
    let mut body = kind.to_vec();
    body.extend_from_slice(data);
    v.extend_from_slice(&body);
    v.extend_from_slice(&crc32(&body).to_be_bytes());
    v
}

/// A well-formed PNG header claiming 40000x40000 RGB, with a tiny (short) image stream.
fn huge_png() -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&40000u32.to_be_bytes());
    ihdr.extend_from_slice(&40000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend(png_chunk(b"IHDR", &ihdr));
    v.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    v.extend(png_chunk(b"IEND", &[]));
    v
}

#[test]
fn bad_images_are_named_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = model_path();
    let jpeg = std::fs::read(shared_dir().join("data/content/test/coffee.jpg")).unwrap();
    let mut png = Vec::new();
    image::RgbImage::from_pixel(64, 64, image::Rgb([10, 200, 30]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();

    let missing = d.join("missing.jpg");
    let (code, err) = run_edge(&model, &missing);
    assert_ne!(code, 0);
    assert!(
        err.contains("missing.jpg") && err.contains("no such file"),
        "{err}"
    );
    assert_eq!(err.matches("no such file").count(), 1, "said twice: {err}");

    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("empty.jpg", vec![], &["empty"]),
        (
            "text.jpg",
            b"hello, this is not a picture\n".to_vec(),
            &["not a readable image"],
        ),
        (
            "truncated.jpg",
            jpeg[..jpeg.len() / 2].to_vec(),
            &["not a readable image"],
        ),
        (
            "truncated.png",
            png[..png.len() / 2].to_vec(),
            &["not a readable image"],
        ),
        ("huge.png", huge_png(), &["40000x40000", "limit"]),
    ];
    for (name, bytes, words) in cases {
        let p = d.join(name);
        std::fs::write(&p, &bytes).unwrap();
        expect_failure(&model, &p, &p, words);
        // The library says the same, without a panic.
        let e = load_rgb(&p).expect_err(name).to_string();
        assert!(e.contains(name), "{e}");
    }
}

#[test]
fn huge_png_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.png");
    std::fs::write(&p, huge_png()).unwrap();
    // 40000x40000x3 would be 4.8 GB: refusing quickly proves no full-size buffer was made.
    let t = std::time::Instant::now();
    let e = load_rgb(&p).unwrap_err().to_string();
    assert!(e.contains("40000x40000"), "{e}");
    assert!(t.elapsed().as_secs() < 5);
}

fn base_tensors() -> HashMap<String, Tensor> {
    ModelFile::load(&model_path(), &Device::Cpu)
        .unwrap()
        .tensors
}

fn save_raw(path: &Path, tensors: &HashMap<String, Tensor>) {
    candle_core::safetensors::save(tensors, path).unwrap();
}

#[test]
fn bad_models_are_named_and_explained() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photo = shared_dir().join("data/content/test/coffee.jpg");
    let good = std::fs::read(model_path()).unwrap();

    let text = d.join("text.safetensors");
    std::fs::write(&text, b"this is not a model").unwrap();
    expect_failure(&text, &photo, &text, &["not a safetensors"]);

    let empty = d.join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    expect_failure(&empty, &photo, &empty, &["empty"]);

    let truncated = d.join("truncated.safetensors");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    expect_failure(&truncated, &photo, &truncated, &["truncated"]);

    let mut t = base_tensors();
    t.insert(
        "res3.conv1.conv2d.weight".into(),
        Tensor::zeros((128, 128, 3, 1), DType::F32, &Device::Cpu).unwrap(),
    );
    let wrong_shape = d.join("wrong_shape.safetensors");
    save_raw(&wrong_shape, &t);
    expect_failure(
        &wrong_shape,
        &photo,
        &wrong_shape,
        &["res3.conv1.conv2d.weight has shape [128, 128, 3, 1], expected [128, 128, 3, 3]"],
    );

    let mut t = base_tensors();
    t.remove("in4.bias");
    let missing = d.join("missing_tensor.safetensors");
    save_raw(&missing, &t);
    expect_failure(&missing, &photo, &missing, &["missing tensor in4.bias"]);

    let mut t = base_tensors();
    let mut v = t["deconv1.conv2d.bias"].to_vec1::<f32>().unwrap();
    v[7] = f32::NAN;
    t.insert(
        "deconv1.conv2d.bias".into(),
        Tensor::new(v, &Device::Cpu).unwrap(),
    );
    let nan = d.join("nan.safetensors");
    save_raw(&nan, &t);
    expect_failure(
        &nan,
        &photo,
        &nan,
        &["deconv1.conv2d.bias holds a non-finite value"],
    );

    let missing_model = d.join("nope.safetensors");
    let (code, err) = run_edge(&missing_model, &photo);
    assert_ne!(code, 0);
    assert!(
        err.contains("nope.safetensors") && err.contains("no such file"),
        "{err}"
    );
}

#[test]
fn import_torch_rejects_non_pth() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pth");
    std::fs::write(&bad, b"not a zip").unwrap();
    let o = Command::new(bin("host-train"))
        .args(["import-torch"])
        .arg(&bad)
        .arg(dir.path().join("out.safetensors"))
        .args(["--name", "x"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("bad.pth") && err.contains("not a PyTorch state dict"),
        "{err}"
    );
    assert!(!dir.path().join("out.safetensors").exists());
}

#[test]
fn bad_stability_settings_are_refused_before_training() {
    let dir = tempfile::tempdir().unwrap();
    for (args, words) in [
        (
            &["--stability-weight=-1"][..],
            "invalid value '-1' for '--stability-weight <STABILITY_WEIGHT>': must be a finite number at least 0",
        ),
        (
            &[
                "--stability-weight",
                "1e4",
                "--stability-shift",
                "48",
                "--image-size",
                "64",
            ][..],
            "--stability-shift 48 is too large for --image-size 64",
        ),
    ] {
        let o = Command::new(bin("host-train"))
            .args(["train", "--style"])
            .arg(shared_dir().join("data/styles/starry_night.jpg"))
            .arg("--dataset")
            .arg(shared_dir().join("data/content/test"))
            .arg("--out")
            .arg(dir.path().join("m.safetensors"))
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} was accepted");
        assert!(err.contains(words), "{args:?}: {err}");
        assert!(!dir.path().join("m.run").exists(), "{args:?} started a run");
    }
}

#[test]
fn plot_draws_a_run_and_names_a_damaged_log() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("x.run");
    std::fs::create_dir(&run).unwrap();
    let rec = |s: u64| {
        format!(
            r#"{{"step":{s},"content":{},"style":{},"tv":3.0,"total":{},"images_per_sec":1.0}}"#,
            1e6 - s as f64,
            2e6 / s as f64,
            3e6
        )
    };
    let log: String = (1..=40).map(|s| rec(s) + "\n").collect();
    std::fs::write(run.join("losses.jsonl"), &log).unwrap();
    let plot = |arg: &Path| {
        Command::new(bin("host-train"))
            .arg("plot")
            .arg(arg)
            .output()
            .unwrap()
    };
    let o = plot(&run);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("40 steps"));
    let png = image::open(run.join("loss_curve.png")).unwrap();
    assert_eq!((png.width(), png.height()), (960, 600));

    // A damaged line is named by file and line, and nothing is written over the old curve.
    std::fs::write(
        run.join("losses.jsonl"),
        format!("{}garbage\n", rec(1) + "\n"),
    )
    .unwrap();
    let before = std::fs::read(run.join("loss_curve.png")).unwrap();
    let o = plot(&run.join("losses.jsonl"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("losses.jsonl line 2") && err.contains("not a loss record"),
        "{err}"
    );
    assert_eq!(std::fs::read(run.join("loss_curve.png")).unwrap(), before);

    let o = plot(&dir.path().join("missing.run"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("missing.run"), "{err}");
}

/// edge-runtime with `args`; (exit code, stderr).
fn edge(args: &[&str]) -> (i32, String) {
    let o = Command::new(bin("edge-runtime"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn out_of_range_options_are_refused_with_their_range() {
    let dir = tempfile::tempdir().unwrap();
    let kiosk = dir.path().join("kiosk.toml");
    for (args, words) in [
        (&["--border-pad", "100000"][..], "--border-pad"),
        (&["--cycle", "1e300"][..], "--cycle"),
        (&["--fps", "0"][..], "--fps"),
        (&["--infer-size", "100000x100000"][..], "--infer-size"),
        (&["--infer-size", "8000x8000"][..], "--infer-size"),
        (
            &[
                "sheet",
                "--input",
                "x",
                "--output",
                "s.png",
                "--cell-height",
                "4000000000",
            ][..],
            "--cell-height",
        ),
        (&["bench", "--border-pad", "5000"][..], "--border-pad"),
        (&["bench", "--sizes", "8192x8192"][..], "--sizes"),
    ] {
        let (code, err) = edge(args);
        assert_ne!(code, 0, "{args:?} accepted: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
    }
    // The kiosk file's values are held to the same ranges (every key: the unit tests
    // in edge-runtime/src/cli.rs, where a value that got through cannot run on).
    for (line, words) in [
        ("cycle = 1e300", "--cycle (kiosk key cycle) must be within"),
        ("infer_size = \"100000x100000\"", "--infer-size"),
    ] {
        // One small frame, should a value get through: the run ends either way.
        let small = stylecast_e2e::repo_root().join("models/small/starry_night.safetensors");
        std::fs::write(
            &kiosk,
            format!("source = \"test-pattern\"\ncamera_size = \"64x48\"\n{line}\n"),
        )
        .unwrap();
        let frames = dir.path().join("frames");
        let (code, err) = edge(&[
            "--config",
            kiosk.to_str().unwrap(),
            "--model",
            small.to_str().unwrap(),
            "--headless",
            "--frames",
            "1",
            "--output",
            frames.to_str().unwrap(),
        ]);
        assert_ne!(code, 0, "{line} accepted: {err}");
        assert!(
            !err.contains("panicked") && err.contains(words),
            "{line}: {err}"
        );
    }
}

#[test]
fn options_of_the_other_mode_are_refused() {
    let (code, err) = edge(&["--input", "a.jpg", "--output", "o", "--fps", "10"]);
    assert_ne!(code, 0);
    assert!(err.contains("--fps applies to live mode only"), "{err}");
    let (code, err) = edge(&["--input", "a.jpg", "--output", "o", "--cycle", "5"]);
    assert_ne!(code, 0);
    assert!(err.contains("--cycle applies to live mode only"), "{err}");
    let (code, err) = edge(&["--source", "test-pattern", "--no-clobber"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("--no-clobber applies to file mode only"),
        "{err}"
    );
    let (code, err) = edge(&["--source", "test-pattern", "--max-side", "512"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("--max-side applies to file mode only"),
        "{err}"
    );
}

/// A headless live run of one test-pattern frame: (exit code, stderr).
fn live_once(extra: &[&str]) -> (i32, String) {
    let mut args = vec!["--headless", "--frames", "1", "--quiet"];
    args.extend_from_slice(extra);
    edge(&args)
}

#[test]
fn a_kiosk_starts_with_what_loads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let small = stylecast_e2e::repo_root().join("models/small/starry_night.safetensors");
    let models = d.join("models");
    std::fs::create_dir_all(&models).unwrap();
    let good = std::fs::read(&small).unwrap();
    std::fs::write(
        models.join("a_truncated.safetensors"),
        &good[..good.len() / 2],
    )
    .unwrap();
    std::fs::write(models.join("b.safetensors"), &good).unwrap();
    let out = d.join("frames");
    let (o, m) = (out.to_str().unwrap(), models.to_str().unwrap());
    let (code, err) = live_once(&["--models", m, "--source", "test-pattern", "--output", o]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("a_truncated.safetensors") && err.contains("going on without it"),
        "{err}"
    );
    assert!(out.join("frame_000001.png").exists());
    // A slideshow whose first picture is unreadable starts with the next one; the
    // second run's frame is numbered on after the first's.
    let show = d.join("show");
    std::fs::create_dir_all(&show).unwrap();
    std::fs::write(show.join("a.jpg"), b"not a jpeg").unwrap();
    image::RgbImage::from_pixel(64, 48, image::Rgb([90, 120, 200]))
        .save(show.join("b.png"))
        .unwrap();
    let (code, err) = live_once(&[
        "--models",
        m,
        "--source",
        show.to_str().unwrap(),
        "--output",
        o,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("a.jpg"), "{err}");
    assert!(out.join("frame_000002.png").exists());
    // Nothing loads: an error naming why.
    std::fs::remove_file(models.join("b.safetensors")).unwrap();
    let (code, err) = live_once(&["--models", m, "--source", "test-pattern", "--output", o]);
    assert_ne!(code, 0);
    assert!(
        !err.contains("panicked") && err.contains("a_truncated.safetensors"),
        "{err}"
    );
    // An --output that cannot be written fails at start.
    let file = d.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let s = small.to_str().unwrap();
    let (code, err) = live_once(&[
        "--model",
        s,
        "--source",
        "test-pattern",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_ne!(code, 0, "{err}");
    assert!(!err.contains("panicked") && err.contains("a-file"), "{err}");
}
