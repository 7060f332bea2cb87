//! The command lines of issue 2: edge-runtime on files, host-train import and export.

use std::path::Path;
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
    // sub/b.png keeps its folder.
    assert_eq!(
        names,
        vec!["a_model.png", "c_model.png", "d_model.png", "sub"]
    );
    let s = Stylizer::load(&model, &Device::Cpu, Precision::F32).unwrap();
    let want = s
        .stylize(
            &load_rgb(&photos.join("sub/b.png")).unwrap(),
            &StylizeOptions::default(),
        )
        .unwrap();
    let got = load_rgb(&out.join("sub/b_model.png")).unwrap();
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

/// A small photo-like picture (a crop of a test photo), `w` x `h`, shifted by `seed`.
fn photo(w: u32, h: u32, seed: u32) -> image::RgbImage {
    let src = load_rgb(&shared_dir().join("data/content/test/coffee.jpg")).unwrap();
    let crop = image::imageops::crop_imm(&src, seed * 17, seed * 11, w * 3, h * 3).to_image();
    image::imageops::resize(&crop, w, h, image::imageops::FilterType::Triangle)
}

fn small_model() -> std::path::PathBuf {
    stylecast_e2e::repo_root().join("models/small/starry_night.safetensors")
}

/// edge-runtime in file mode with the small model on `inputs`, into `out`.
fn files_run(inputs: &[&Path], out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(bin("edge-runtime"))
        .arg("--model")
        .arg(small_model())
        .arg("--input")
        .args(inputs)
        .arg("--output")
        .arg(out)
        .args(extra)
        .output()
        .unwrap()
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn equal_names_in_different_folders_never_share_an_output() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    for (sub, seed) in [("a", 1), ("b", 2)] {
        std::fs::create_dir_all(photos.join(sub)).unwrap();
        photo(64, 48, seed)
            .save(photos.join(sub).join("photo.jpg"))
            .unwrap();
    }
    // The folder: each result keeps its input's folder.
    let out = dir.path().join("out");
    let o = files_run(&[&photos], &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        files_under(&out),
        ["a/photo_starry_night.png", "b/photo_starry_night.png"]
    );
    let (a, b) = (
        load_rgb(&out.join("a/photo_starry_night.png")).unwrap(),
        load_rgb(&out.join("b/photo_starry_night.png")).unwrap(),
    );
    assert_ne!(a, b, "one photo's result written over the other's");
    // The two files by name: the second gets -2, and each run says which went where.
    let out2 = dir.path().join("out2");
    let (pa, pb) = (photos.join("a/photo.jpg"), photos.join("b/photo.jpg"));
    let o = files_run(&[&pa, &pb], &out2, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        files_under(&out2),
        ["photo-2_starry_night.png", "photo_starry_night.png"]
    );
    assert_eq!(load_rgb(&out2.join("photo_starry_night.png")).unwrap(), a);
    assert_eq!(load_rgb(&out2.join("photo-2_starry_night.png")).unwrap(), b);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!(
            "{} -> {}",
            pb.display(),
            out2.join("photo-2_starry_night.png").display()
        )),
        "{stdout}"
    );
}

#[test]
fn output_inside_the_input_folder_existing_files_and_no_clobber() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    photo(64, 48, 1).save(photos.join("x.png")).unwrap();
    let out = photos.join("out");
    let o = files_run(&[&photos], &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The second run does not stylize the first run's results again...
    let o = files_run(&[&photos], &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(files_under(&out), ["x_starry_night.png"]);
    // ...and says it replaced the existing result.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1 existing files replaced"), "{err}");
    // --no-clobber keeps an existing file as it is.
    let mark = image::RgbImage::from_pixel(5, 5, image::Rgb([1, 2, 3]));
    mark.save(out.join("x_starry_night.png")).unwrap();
    let o = files_run(&[&photos], &out, &["--no-clobber"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(load_rgb(&out.join("x_starry_night.png")).unwrap(), mark);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1 existing files kept"), "{err}");
    // The output folder as the input folder is refused before any work.
    let o = files_run(&[&photos], &photos, &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("output folder is the input folder"), "{err}");
}

#[test]
fn output_formats_and_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.png");
    photo(70, 50, 3).save(&p).unwrap();
    for (format, ext) in [("jpg", "jpg"), ("webp", "webp")] {
        let out = dir.path().join(format);
        let o = files_run(&[&p], &out, &["--output-format", format, "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let stdout = String::from_utf8_lossy(&o.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines.len(), 1, "{stdout}");
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        let dst = out.join(format!("p_starry_night.{ext}"));
        assert_eq!(v["input"], p.to_str().unwrap());
        assert_eq!(v["output"], dst.to_str().unwrap());
        assert_eq!(
            (v["width"].as_u64(), v["height"].as_u64()),
            (Some(70), Some(50))
        );
        assert_eq!(v["style"], "starry_night");
        assert!(v["ms"].as_f64().is_some_and(|ms| ms > 0.0), "{v}");
        let written = image::open(&dst).unwrap();
        assert_eq!((written.width(), written.height()), (70, 50));
        let guessed = image::ImageFormat::from_path(&dst).unwrap();
        assert_eq!(
            image::guess_format(&std::fs::read(&dst).unwrap()).unwrap(),
            guessed
        );
    }
    let o = files_run(&[&p], &dir.path().join("x"), &["--output-format", "gif"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("use png, jpg or webp"));
}

/// A JPEG as a phone writes it held upright: stored sideways, with EXIF orientation 6
/// (turn 90 degrees clockwise to show).
fn jpeg_with_orientation_6(img: &image::RgbImage) -> Vec<u8> {
    let mut plain = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut plain),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    // TIFF header (big-endian), one IFD entry: Orientation (0x0112), SHORT, 1 value, 6.
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
    tiff.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0]);
    let mut app1 = vec![0xFF, 0xE1];
    app1.extend_from_slice(&((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(&tiff);
    let mut v = plain[..2].to_vec();
    v.extend_from_slice(&app1);
    v.extend_from_slice(&plain[2..]);
    v
}

#[test]
fn exif_orientation_6_comes_out_upright() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("phone.jpg");
    let stored = photo(96, 64, 2);
    std::fs::write(&p, jpeg_with_orientation_6(&stored)).unwrap();
    let out = dir.path().join("out");
    let o = files_run(&[&p], &out, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = load_rgb(&out.join("phone_starry_night.png")).unwrap();
    assert_eq!(got.dimensions(), (64, 96), "not turned upright");
    // Exactly the stored pixels turned clockwise, then stylized.
    let decoded = image::load_from_memory(&std::fs::read(&p).unwrap())
        .unwrap()
        .to_rgb8();
    assert_eq!(decoded.dimensions(), (96, 64));
    let upright = image::imageops::rotate90(&decoded);
    let s = Stylizer::load(&small_model(), &Device::Cpu, Precision::F32).unwrap();
    let want = s.stylize(&upright, &StylizeOptions::default()).unwrap();
    assert_eq!(got, want);
}

#[test]
fn a_closed_stdout_does_not_stop_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for i in 0..5 {
        photo(64, 48, i)
            .save(photos.join(format!("p{i}.png")))
            .unwrap();
    }
    let out = dir.path().join("out");
    // `| head -0`: the reader is gone before the first line.
    let mut child = Command::new(bin("edge-runtime"))
        .arg("--model")
        .arg(small_model())
        .arg("--input")
        .arg(&photos)
        .arg("--output")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(o.status.success(), "{err}");
    assert_eq!(files_under(&out).len(), 5, "{err}");
}

#[test]
fn a_bad_file_is_skipped_counted_and_fails_the_run_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    photo(64, 48, 1).save(photos.join("a.png")).unwrap();
    std::fs::write(photos.join("b.jpg"), b"not a jpeg").unwrap();
    photo(64, 48, 2).save(photos.join("c.png")).unwrap();
    // A folder link whose target is gone: an entry the walk cannot read.
    std::os::unix::fs::symlink(dir.path().join("gone"), photos.join("trip")).unwrap();
    let out = dir.path().join("out");
    let o = files_run(&[&photos], &out, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(1), "{err}");
    // The good ones before and after it are written.
    assert_eq!(
        files_under(&out),
        ["a_starry_night.png", "c_starry_night.png"]
    );
    assert!(
        err.contains("b.jpg") && err.contains("not a readable image"),
        "{err}"
    );
    assert!(
        err.contains(&format!("warning: {}", photos.join("trip").display())),
        "{err}"
    );
    assert!(
        err.contains("2 of 4 inputs failed and were skipped"),
        "{err}"
    );
}

#[test]
fn bench_json_is_one_object_per_size() {
    let o = Command::new(bin("edge-runtime"))
        .arg("bench")
        .arg("--model")
        .arg(small_model())
        .args([
            "--sizes",
            "32x32,48x32",
            "--reps",
            "1",
            "--warmup",
            "0",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert_eq!(
        (rows[1]["width"].as_u64(), rows[1]["height"].as_u64()),
        (Some(48), Some(32))
    );
    assert_eq!(rows[0]["style"], "starry_night");
    assert!(
        rows[0]["ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{stdout}"
    );
    // The table's header went to stderr.
    assert!(String::from_utf8_lossy(&o.stderr).contains("# stylecast inference benchmark"));
}
