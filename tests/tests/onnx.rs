//! ONNX export and import (issue 20, items 4-6): `host-train export --onnx` read back by
//! `host-train import-onnx`, a pytorch/examples torch.onnx export imported, bad files
//! refused, and the exported files run by onnxruntime and OpenCV (tests/python/onnx_check.py,
//! in the venv `.ci/run` makes; its python is `$STYLECAST_ONNX_PYTHON`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use stylecast::io::image::{image_to_tensor, load_rgb};
use stylecast::{ModelFile, Precision, Stylizer};
use stylecast_e2e::{bin, conformance, load_tensors, repo_root, shared_dir, to_f32_vec};

fn host_train(args: &[&Path]) -> Output {
    Command::new(bin("host-train")).args(args).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn export(model: &Path, out: &Path, extra: &[&str]) {
    let mut args: Vec<&Path> = vec![Path::new("export"), Path::new("--onnx"), model, out];
    args.extend(extra.iter().map(Path::new));
    ok(&host_train(&args));
}

fn import(onnx: &Path, out: &Path) -> Output {
    host_train(&[
        Path::new("import-onnx"),
        onnx,
        out,
        Path::new("--style"),
        Path::new("back"),
    ])
}

fn same_weights(a: &ModelFile, b: &ModelFile) {
    assert_eq!(a.meta.config, b.meta.config);
    assert_eq!(a.tensors.len(), b.tensors.len());
    for (name, t) in &a.tensors {
        assert_eq!(to_f32_vec(&b.tensors[name]), to_f32_vec(t), "{name}");
    }
}

#[test]
fn export_then_import_gives_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    for (model, extra) in [
        (
            repo_root().join("models/small/starry_night.safetensors"),
            &[][..],
        ),
        (
            conformance("transformer_net/model.safetensors"),
            &["--with-border-pad"][..],
        ),
    ] {
        let onnx = dir.path().join("m.onnx");
        let back = dir.path().join("back.safetensors");
        export(&model, &onnx, extra);
        let said = ok(&import(&onnx, &back));
        assert!(said.contains("back.safetensors"), "{said}");
        let want = ModelFile::load(&model, &Device::Cpu).unwrap();
        let got = ModelFile::load(&back, &Device::Cpu).unwrap();
        assert_eq!(got.meta.style, "back");
        same_weights(&want.to_dtype(DType::F32).unwrap(), &got);
    }
}

#[test]
fn import_of_a_pytorch_examples_export_gives_its_weights() {
    let fixtures = repo_root().join("tests/fixtures/onnx");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny.safetensors");
    ok(&import(&fixtures.join("tiny.onnx"), &out));
    let got = ModelFile::load(&out, &Device::Cpu).unwrap();
    let want = load_tensors(&fixtures.join("tiny.weights.safetensors"));
    assert_eq!(got.meta.config.channels, [8, 16, 16]);
    assert_eq!(got.meta.config.residual_blocks, 2);
    assert_eq!(got.tensors.len(), want.len());
    for (name, t) in &want {
        assert_eq!(to_f32_vec(&got.tensors[name]), to_f32_vec(t), "{name}");
    }
    // And the imported network computes what torch computed.
    let io = load_tensors(&fixtures.join("tiny.io.safetensors"));
    let s = Stylizer::from_model(&got, &Device::Cpu, Precision::F32).unwrap();
    let y = s.net().forward_raw(&io["input"]).unwrap();
    let e = stylecast::compare::max_rel_diff(&y, &io["output"]).unwrap();
    assert!(e < 1e-4, "relative difference {e} from torch");
}

#[test]
fn bad_onnx_files_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = d.join("notes.onnx");
    std::fs::write(&text, "this is not a model\n").unwrap();
    let empty = d.join("empty.onnx");
    std::fs::write(&empty, "").unwrap();
    let st = repo_root().join("models/small/starry_night.safetensors");
    // Our export cut short: a protobuf that ends inside a tensor.
    let full = d.join("full.onnx");
    export(&st, &full, &[]);
    let bytes = std::fs::read(&full).unwrap();
    let cut = d.join("cut.onnx");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let cases: [(&Path, &str); 6] = [
        (&text, "not an ONNX model"),
        (&empty, "empty"),
        (&cut, "not an ONNX model"),
        (&st, "not an ONNX model"),
        (d, "not a regular file"),
        (&d.join("missing.onnx"), "missing.onnx"),
    ];
    for (input, want) in cases {
        let out = d.join("out.safetensors");
        let o = import(input, &out);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{} was accepted", input.display());
        assert!(
            err.contains(&input.display().to_string()) && err.contains(want),
            "{}: {err}",
            input.display()
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!out.exists(), "a failed import wrote {}", out.display());
    }
    // --with-border-pad belongs to --onnx, and its range is checked.
    let o = host_train(&[
        Path::new("export"),
        &st,
        &d.join("x.safetensors"),
        Path::new("--with-border-pad=8"),
    ]);
    assert!(!o.status.success());
    let o = host_train(&[
        Path::new("export"),
        Path::new("--onnx"),
        &st,
        &d.join("x.onnx"),
        Path::new("--with-border-pad=100000"),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("100000"), "{err}");
}

/// `.npy` (version 1, little-endian f32, C order): what numpy reads without extra packages.
fn write_npy(path: &Path, t: &Tensor) {
    let shape: Vec<String> = t.dims().iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        shape.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in to_f32_vec(t) {
        bytes.extend(v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

fn photo(w: u32, h: u32) -> RgbImage {
    let img = load_rgb(&shared_dir().join("data/content/test/chicago.jpg")).unwrap();
    image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
}

/// edge-runtime on `png` with `--model model` and `extra` flags; the PNG it wrote.
fn edge_runtime(model: &Path, png: &Path, out_dir: &Path, extra: &[&str]) -> PathBuf {
    let o = Command::new(bin("edge-runtime"))
        .arg("--model")
        .arg(model)
        .arg("--input")
        .arg(png)
        .arg("--output")
        .arg(out_dir)
        .args(extra)
        .output()
        .unwrap();
    ok(&o);
    let stem = png.file_stem().unwrap().to_string_lossy();
    let m = model.file_stem().unwrap().to_string_lossy();
    let p = out_dir.join(format!("{stem}_{m}.png"));
    assert!(p.exists(), "edge-runtime wrote no {}", p.display());
    p
}

#[test]
fn onnxruntime_and_opencv_match_edge_runtime() {
    let Some(python) = std::env::var_os("STYLECAST_ONNX_PYTHON") else {
        eprintln!(
            "\n\n*** SKIPPED onnxruntime/OpenCV check: STYLECAST_ONNX_PYTHON is not set. \
             .ci/run sets it (a venv with onnxruntime, opencv-python-headless, numpy). ***\n"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut models = vec![conformance("transformer_net/model.safetensors")];
    models.extend(stylecast::io::model_file::models_in(&repo_root().join("models")).unwrap());
    models.push(repo_root().join("models/small/starry_night.safetensors"));
    assert!(models.len() >= 6, "{models:?}");

    // A multiple of 4 for the bare network, and an odd size for the border-pad files.
    let even = photo(64, 48);
    let odd = photo(61, 45);
    let (even_png, odd_png) = (d.join("even.png"), d.join("odd.png"));
    even.save(&even_png).unwrap();
    odd.save(&odd_png).unwrap();
    let tensor = |img: &RgbImage| image_to_tensor(img, &Device::Cpu, DType::F32).unwrap();
    let (even_in, odd_in) = (d.join("even.npy"), d.join("odd.npy"));
    write_npy(&even_in, &tensor(&even));
    write_npy(&odd_in, &tensor(&odd));

    let mut cases = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let name = model.file_stem().unwrap().to_string_lossy().into_owned();
        let name = format!("{i}_{name}");
        let m = ModelFile::load(model, &Device::Cpu).unwrap();
        let s = Stylizer::from_model(&m, &Device::Cpu, Precision::F32).unwrap();
        let case_dir = d.join(&name);
        std::fs::create_dir(&case_dir).unwrap();
        let file = |n: &str| case_dir.join(n).to_string_lossy().into_owned();

        // The bare network, against edge-runtime --border-pad 0.
        export(model, Path::new(&file("plain.onnx")), &[]);
        write_npy(
            Path::new(&file("plain.want.npy")),
            &s.forward(&tensor(&even)).unwrap(),
        );
        let png = edge_runtime(model, &even_png, &case_dir, &["--border-pad", "0"]);
        cases.push(serde_json::json!({
            "name": format!("{name} plain 64x48"), "onnx": file("plain.onnx"),
            "input": even_in, "want": file("plain.want.npy"), "rel_tol": 1e-4,
            "png": png, "png_levels": 1, "opencv_levels": 3,
        }));

        // Edge-runtime's default border, at a size that is no multiple of 4.
        export(
            model,
            Path::new(&file("border.onnx")),
            &["--with-border-pad"],
        );
        let want = s.forward_with_border(&tensor(&odd), stylecast::stylize::DEFAULT_BORDER_PAD);
        write_npy(Path::new(&file("border.want.npy")), &want.unwrap());
        let out = case_dir.join("default");
        std::fs::create_dir(&out).unwrap();
        let png = edge_runtime(model, &odd_png, &out, &[]);
        cases.push(serde_json::json!({
            "name": format!("{name} border 32, 61x45"), "onnx": file("border.onnx"),
            "input": odd_in, "want": file("border.want.npy"), "rel_tol": 1e-4,
            "png": png, "png_levels": 1,
        }));
        // --with-border-pad 0: the padding to a multiple of 4 only.
        export(
            model,
            Path::new(&file("border0.onnx")),
            &["--with-border-pad", "0"],
        );
        write_npy(
            Path::new(&file("border0.want.npy")),
            &s.forward(&tensor(&odd)).unwrap(),
        );
        let out = case_dir.join("zero");
        std::fs::create_dir(&out).unwrap();
        let png = edge_runtime(model, &odd_png, &out, &["--border-pad", "0"]);
        cases.push(serde_json::json!({
            "name": format!("{name} border 0, 61x45"), "onnx": file("border0.onnx"),
            "input": odd_in, "want": file("border0.want.npy"), "rel_tol": 1e-4,
            "png": png, "png_levels": 1,
        }));
    }

    // The conformance input against PyTorch's own output (clamped, as the file clamps).
    let io = load_tensors(&conformance("transformer_net/io.safetensors"));
    let (x, y) = (d.join("conf.in.npy"), d.join("conf.want.npy"));
    write_npy(&x, &io["input"]);
    write_npy(&y, &io["output"].clamp(0f32, 255f32).unwrap());
    let conf = d.join("0_model").join("plain.onnx");
    cases.push(serde_json::json!({
        "name": "conformance input", "onnx": conf, "input": x, "want": y,
        "want_from": "PyTorch", "rel_tol": 1e-4,
    }));
    // --f16: onnxruntime takes it; f16 arithmetic stays above 40 dB of the f32 output.
    let f16 = d.join("f16.onnx");
    export(&models[1], &f16, &["--f16"]);
    let s = Stylizer::load(&models[1], &Device::Cpu, Precision::F32).unwrap();
    let want = d.join("f16.want.npy");
    write_npy(&want, &s.forward(&tensor(&even)).unwrap());
    cases.push(serde_json::json!({
        "name": "f16 file", "onnx": f16, "input": even_in, "want": want, "psnr_min": 40.0,
    }));

    let manifest = d.join("cases.json");
    std::fs::write(&manifest, serde_json::json!({ "cases": cases }).to_string()).unwrap();
    let o = Command::new(python)
        .arg(repo_root().join("tests/python/onnx_check.py"))
        .arg(&manifest)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout);
    eprintln!("{said}{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "onnx_check.py failed:\n{said}");
    assert!(
        said.contains(" 0 failed") && !said.contains("FAIL"),
        "{said}"
    );
}
