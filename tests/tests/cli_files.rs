//! The command lines of issue 2: edge-runtime on files, host-train import and export.

use std::process::Command;

use candle_core::{DType, Device};
use stylecast::io::image::{load_rgb, psnr};
use stylecast::{ModelFile, Precision, StylizeOptions, Stylizer};
use stylecast_e2e::{bin, conformance, shared_dir};

#[test]
fn edge_runtime_stylizes_files_and_folders_like_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(photos.join("sub")).unwrap();
    // A small JPEG, a PNG in a subfolder, and a WebP: every supported format, odd sizes.
    let src = load_rgb(&shared_dir().join("data/content/test/coffee.jpg")).unwrap();
    let small = image::imageops::resize(&src, 61, 45, image::imageops::FilterType::Triangle);
    small.save(photos.join("a.jpg")).unwrap();
    small.save(photos.join("sub/b.png")).unwrap();
    image::DynamicImage::ImageRgb8(small.clone())
        .save(photos.join("c.webp"))
        .unwrap();
    std::fs::write(photos.join("notes.txt"), "ignored").unwrap();
    // A symlinked photo counts like a file.
    std::os::unix::fs::symlink(photos.join("a.jpg"), photos.join("d.jpg")).unwrap();
    let out = dir.path().join("out");
    let model = conformance("transformer_net/model.safetensors");
    let o = Command::new(bin("edge-runtime"))
        .arg("--model")
        .arg(&model)
        .arg("--input")
        .arg(&photos)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec!["a_model.png", "b_model.png", "c_model.png", "d_model.png"]
    );
    let s = Stylizer::load(&model, &Device::Cpu, Precision::F32).unwrap();
    let want = s
        .stylize(
            &load_rgb(&photos.join("sub/b.png")).unwrap(),
            &StylizeOptions::default(),
        )
        .unwrap();
    let got = load_rgb(&out.join("b_model.png")).unwrap();
    assert_eq!(got.dimensions(), (61, 45));
    assert_eq!(got, want, "CLI output differs from the library's");
}

#[test]
fn stylize_options_do_what_they_say() {
    let model = conformance("transformer_net/model.safetensors");
    let s = Stylizer::load(&model, &Device::Cpu, Precision::F32).unwrap();
    let src = load_rgb(&shared_dir().join("data/content/test/coffee.jpg")).unwrap();
    let img = image::imageops::resize(&src, 120, 80, image::imageops::FilterType::Triangle);
    let full = s.stylize(&img, &StylizeOptions::default()).unwrap();
    // strength 0 is the input itself; 0.5 sits between.
    let none = s
        .stylize(
            &img,
            &StylizeOptions {
                strength: 0.0,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(none, img);
    let half = s
        .stylize(
            &img,
            &StylizeOptions {
                strength: 0.5,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(psnr(&half, &img) > psnr(&full, &img));
    // max_side: run at 60 px, come back at 120x80.
    let small = s
        .stylize(
            &img,
            &StylizeOptions {
                max_side: Some(60),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(small.dimensions(), (120, 80));
    assert!(small != full);
    // preserve_colors: the option applies the YCbCr transfer to the stylized image...
    let pc = s
        .stylize(
            &img,
            &StylizeOptions {
                preserve_colors: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(pc, stylecast::stylize::preserve_colors(&img, &full));
    // ...which keeps the input's chroma and the stylized luma (away from clipping).
    let a = image::RgbImage::from_fn(8, 8, |x, y| {
        image::Rgb([100 + 10 * x as u8, 80 + 5 * y as u8, 120])
    });
    let b = image::RgbImage::from_fn(8, 8, |x, _| image::Rgb([90, 110 + 8 * x as u8, 70]));
    let t = stylecast::stylize::preserve_colors(&a, &b);
    let ycc = |c: [u8; 3]| {
        let [r, g, b] = c.map(|v| v as f64);
        (
            0.299 * r + 0.587 * g + 0.114 * b,
            -0.168736 * r - 0.331264 * g + 0.5 * b,
            0.5 * r - 0.418688 * g - 0.081312 * b,
        )
    };
    for ((pt, pa), pb) in t.pixels().zip(a.pixels()).zip(b.pixels()) {
        let (yt, cbt, crt) = ycc(pt.0);
        let (_, cba, cra) = ycc(pa.0);
        let (yb, _, _) = ycc(pb.0);
        assert!((yt - yb).abs() < 1.0 && (cbt - cba).abs() < 1.0 && (crt - cra).abs() < 1.0);
    }
    assert!(s
        .stylize(
            &img,
            &StylizeOptions {
                strength: 1.5,
                ..Default::default()
            }
        )
        .is_err());
}

#[test]
fn import_torch_and_export_f16() {
    let dir = tempfile::tempdir().unwrap();
    let imported = dir.path().join("imported.safetensors");
    let o = Command::new(bin("host-train"))
        .arg("import-torch")
        .arg(conformance("transformer_net/model_with_running_stats.pth"))
        .arg(&imported)
        .args(["--name", "fixture style"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = ModelFile::load(&imported, &Device::Cpu).unwrap();
    assert_eq!(m.meta.style, "fixture style");
    assert_eq!(m.dtype(), DType::F32);

    let half = dir.path().join("half.safetensors");
    let o = Command::new(bin("host-train"))
        .arg("export")
        .arg("--f16")
        .arg(&imported)
        .arg(&half)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let h = ModelFile::load(&half, &Device::Cpu).unwrap();
    assert_eq!(h.dtype(), DType::F16);
    assert_eq!(h.meta.style, "fixture style");
    let (a, b) = (
        std::fs::metadata(&imported).unwrap().len(),
        std::fs::metadata(&half).unwrap().len(),
    );
    assert!(b < a / 2 + 8192, "f16 file {b} bytes is not half of {a}");
}

/// `host-train check-device` run against the CPU itself: the whole comparison runs, a device
/// identical to the CPU agrees exactly, and the CPU's own f32 noise floor is measured (non-zero:
/// the perturbed step really differs) and small.
#[test]
fn check_device_against_the_cpu_itself() {
    let o = Command::new(bin("host-train"))
        .args(["check-device", "--device", "cpu", "--vgg"])
        .arg(shared_dir().join("weights/vgg16-features.safetensors"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("cpu agrees with the CPU (worst relative difference 0.00e0)"),
        "{out}"
    );
    let floor: f64 = out
        .lines()
        .find_map(|l| l.split("noise floor on these gradients: up to ").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no noise floor line in:\n{out}"));
    assert!(floor > 0.0 && floor < 1.0, "noise floor {floor}");
}

#[test]
fn edge_runtime_sheet_puts_each_photo_beside_each_style() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let src = load_rgb(&shared_dir().join("data/content/test/coffee.jpg")).unwrap();
    for (name, w, h) in [("a.jpg", 90, 60), ("b.png", 40, 60)] {
        image::imageops::resize(&src, w, h, image::imageops::FilterType::Triangle)
            .save(photos.join(name))
            .unwrap();
    }
    let paintings = dir.path().join("paintings");
    std::fs::create_dir_all(&paintings).unwrap();
    let red = image::RgbImage::from_pixel(30, 20, image::Rgb([255, 0, 0]));
    red.save(paintings.join("starry_night.png")).unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::copy(
        stylecast_e2e::repo_root().join("models/starry_night.safetensors"),
        models.join("starry_night.safetensors"),
    )
    .unwrap();
    let out = dir.path().join("sheet.png");
    let run = |extra: &[&str]| {
        Command::new(bin("edge-runtime"))
            .arg("sheet")
            .arg("--input")
            .arg(&photos)
            .arg("--models")
            .arg(&models)
            .args(["--cell-height", "40", "--stylize-side", "64", "--quiet"])
            .args(extra)
            .arg("--output")
            .arg(&out)
            .output()
            .unwrap()
    };
    let o = run(&["--paintings", paintings.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sheet = load_rgb(&out).unwrap();
    // 2 columns (photo, the style) of 60x40 cells, 4 px gaps, a 20 px label strip;
    // 3 rows: the painting, then the two photos.
    assert_eq!(sheet.dimensions(), (2 * 60 + 3 * 4, 20 + 3 * 40 + 4 * 4));
    let cell = |row: u32, col: u32| (4 + col * 64 + 30, 20 + 4 + row * 44 + 20);
    // The painting sits over its style's column; the photo column's top cell is blank.
    let (x, y) = cell(0, 1);
    assert_eq!(sheet.get_pixel(x, y).0, [255, 0, 0]);
    let (x, y) = cell(0, 0);
    assert_eq!(sheet.get_pixel(x, y).0, [255, 255, 255]);
    // The photo and its stylized copy differ (the style did something), neither blank.
    let (x, y) = cell(1, 0);
    let (p, s) = (sheet.get_pixel(x, y).0, sheet.get_pixel(x + 64, y).0);
    assert_ne!(p, [255, 255, 255]);
    assert_ne!(s, [255, 255, 255]);
    assert_ne!(p, s);

    // Several --models (a folder and files, one style twice): a column each.
    let scream = stylecast_e2e::repo_root().join("models/the_scream.safetensors");
    let again = dir.path().join("starry_night_v2.safetensors");
    std::fs::copy(models.join("starry_night.safetensors"), &again).unwrap();
    let o = run(&[
        "--models",
        scream.to_str().unwrap(),
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        load_rgb(&out).unwrap().dimensions(),
        (4 * 60 + 5 * 4, 20 + 2 * 40 + 3 * 4)
    );

    // A missing photo or paintings folder is named.
    let o = run(&["--paintings", "/nonexistent/paintings"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("/nonexistent/paintings") && e.contains("not a folder"),
        "{e}"
    );
    std::fs::write(photos.join("broken.jpg"), b"not a jpeg").unwrap();
    let o = run(&[]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("broken.jpg"), "{e}");
}
