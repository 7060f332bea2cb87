//! Multi-style model files in edge-runtime (issue 21): `--style NAME|INDEX|BLEND` in file
//! mode, one output per style without it, bad styles refused, a sheet column per style,
//! bench's style-switch line, and live `--cycle` morphing between styles of one file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::{Device, Tensor};
use image::RgbImage;
use stylecast::{ModelFile, ModelMeta, NetConfig};
use stylecast_e2e::bin;

/// A small multi-style model with random weights: He-initialised convolutions, every
/// style its own norm scales and shifts (so the styles paint differently), and an output
/// layer scaled around mid-grey so pictures are not clamped flat.
fn multi_model(dir: &Path, file: &str, names: &[&str]) -> PathBuf {
    let config = NetConfig::small().with_styles(names.len());
    let tensors = config
        .param_shapes()
        .into_iter()
        .map(|(n, shape)| {
            let t = if n.ends_with("conv2d.weight") {
                let fan_in: usize = shape[1..].iter().product();
                let std = if n.starts_with("deconv3") {
                    40.0 / (fan_in as f64).sqrt()
                } else {
                    (2.0 / fan_in as f64).sqrt()
                };
                Tensor::randn(0f32, std as f32, shape, &Device::Cpu).unwrap()
            } else if n == "deconv3.conv2d.bias" {
                Tensor::full(128f32, shape, &Device::Cpu).unwrap()
            } else if n.ends_with("conv2d.bias") {
                Tensor::zeros(shape, candle_core::DType::F32, &Device::Cpu).unwrap()
            } else if n.ends_with("weight") {
                (Tensor::randn(0f32, 0.5, shape, &Device::Cpu).unwrap() + 1.0).unwrap()
            } else {
                Tensor::randn(0f32, 0.5, shape, &Device::Cpu).unwrap()
            };
            (n, t)
        })
        .collect();
    let names = names.iter().map(|s| s.to_string()).collect();
    let m = ModelFile {
        meta: ModelMeta::with_styles("collection", config, names),
        tensors,
    };
    let path = dir.join(file);
    m.save(&path).unwrap();
    path
}

/// A one-style model (the same kind of random network) named `style`.
fn single_model(dir: &Path, style: &str) -> PathBuf {
    let tmp = tempfile::tempdir().unwrap();
    let m = ModelFile::load(
        &multi_model(tmp.path(), "m.safetensors", &[style, "x"]),
        &Device::Cpu,
    )
    .unwrap();
    let one = m
        .resolve_style(&stylecast::StyleMix::single(0, 2).unwrap())
        .unwrap();
    let mut one = one;
    one.meta.style = style.to_string();
    let path = dir.join(format!("{style}.safetensors"));
    one.save(&path).unwrap();
    path
}

fn photo(dir: &Path) -> PathBuf {
    let img = RgbImage::from_fn(40, 30, |x, y| {
        image::Rgb([(x * 6) as u8, (y * 8) as u8, ((x * y) % 256) as u8])
    });
    let p = dir.join("photo.png");
    img.save(&p).unwrap();
    p
}

fn edge(args: &[&str]) -> Output {
    Command::new(bin("edge-runtime"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// File mode into `out` with `extra` flags; asserts success.
fn stylize(model: &Path, input: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec!["--model", s(model), "--input", s(input), "--output", s(out)];
    args.extend(extra);
    let o = edge(&args);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn load(p: &Path) -> RgbImage {
    image::open(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .to_rgb8()
}

#[test]
fn style_by_name_index_and_blend_and_a_one_hot_blend_is_the_style() {
    let dir = tempfile::tempdir().unwrap();
    let model = multi_model(dir.path(), "trio.safetensors", &["a", "b", "c"]);
    let input = photo(dir.path());
    let out = dir.path().join("out");
    stylize(&model, &input, &out, &["--style", "a"]);
    stylize(&model, &input, &out, &["--style", "1"]);
    stylize(&model, &input, &out, &["--style", "a:0.5,b:0.5"]);
    assert_eq!(
        files_in(&out),
        ["photo_a.png", "photo_a_0_50_b_0_50.png", "photo_b.png"]
    );
    let (a, b, ab) = (
        std::fs::read(out.join("photo_a.png")).unwrap(),
        std::fs::read(out.join("photo_b.png")).unwrap(),
        std::fs::read(out.join("photo_a_0_50_b_0_50.png")).unwrap(),
    );
    assert!(a != b && ab != a && ab != b, "styles paint alike");
    let one_hot = dir.path().join("one_hot");
    stylize(&model, &input, &one_hot, &["--style", "a:1,b:0"]);
    assert_eq!(files_in(&one_hot), ["photo_a.png"]);
    assert!(
        std::fs::read(one_hot.join("photo_a.png")).unwrap() == a,
        "--style a:1,b:0 differs from --style a"
    );
}

#[test]
fn without_style_every_style_is_written_and_none_overwrites_another() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    // Two files sharing the style names a and b: their outputs must not collide.
    multi_model(&models, "one.safetensors", &["a", "b", "c"]);
    multi_model(&models, "two.safetensors", &["a", "b"]);
    let input = photo(dir.path());
    let out = dir.path().join("out");
    let o = edge(&[
        "--models",
        s(&models),
        "--input",
        s(&input),
        "--output",
        s(&out),
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let names = files_in(&out);
    assert_eq!(
        names,
        [
            "photo_c.png",
            "photo_one_a.png",
            "photo_one_b.png",
            "photo_two_a.png",
            "photo_two_b.png"
        ]
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    assert!(stdout.contains(r#""style":"c""#), "{stdout}");
    let pics: Vec<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(out.join(n)).unwrap())
        .collect();
    for i in 0..pics.len() {
        for j in i + 1..pics.len() {
            assert!(pics[i] != pics[j], "{} equals {}", names[i], names[j]);
        }
    }
}

#[test]
fn bad_styles_are_refused_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let model = multi_model(dir.path(), "trio.safetensors", &["a", "b", "c"]);
    let input = photo(dir.path());
    let out = dir.path().join("out");
    for (spec, problem) in [
        ("mona_lisa", "unknown style \"mona_lisa\""),
        ("7", "unknown style \"7\""),
        ("a:-1", "weight -1"),
        ("a:0,b:0", "all zero"),
    ] {
        let o = edge(&[
            "--model",
            s(&model),
            "--input",
            s(&input),
            "--output",
            s(&out),
            "--style",
            spec,
        ]);
        assert!(!o.status.success(), "{spec}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("trio.safetensors") && err.contains(problem) && err.contains("a, b, c"),
            "{spec}: {err}"
        );
    }
    assert!(!out.join("photo_a.png").exists());
    // A single-style file takes its own name, and refuses any other.
    let single = single_model(dir.path(), "solo");
    stylize(&single, &input, &out, &["--style", "solo"]);
    assert!(out.join("photo_solo.png").exists());
    let o = edge(&[
        "--model",
        s(&single),
        "--input",
        s(&input),
        "--output",
        s(&out),
        "--style",
        "a",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains("solo.safetensors")
            && err.contains("unknown style \"a\""),
        "{}",
        text(&o)
    );
    // Live mode checks it before opening any source.
    let o = edge(&[
        "--model",
        s(&model),
        "--source",
        "test-pattern",
        "--headless",
        "--frames",
        "1",
        "--output",
        s(&dir.path().join("live")),
        "--style",
        "nope",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("trio.safetensors") && err.contains("unknown style"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_sheet_has_a_column_per_style_and_bench_times_a_style_switch() {
    let dir = tempfile::tempdir().unwrap();
    let model = multi_model(dir.path(), "trio.safetensors", &["a", "b", "c"]);
    let input = photo(dir.path());
    let sheet = |extra: &[&str]| {
        let out = dir.path().join("sheet.png");
        let mut args = vec![
            "sheet",
            "--input",
            s(&input),
            "--models",
            s(&model),
            "--output",
            s(&out),
            "--cell-height",
            "20",
            "--stylize-side",
            "40",
        ];
        args.extend(extra);
        let o = edge(&args);
        assert!(o.status.success(), "{}", text(&o));
        load(&out).dimensions()
    };
    // Cells 30 px wide, 4 px apart: the photo and three styles, then the photo and one.
    assert_eq!(sheet(&[]).0, 4 * 30 + 5 * 4);
    assert_eq!(sheet(&["--style", "b:0.3,c:0.7"]).0, 2 * 30 + 3 * 4);

    let o = edge(&[
        "bench",
        "--model",
        s(&model),
        "--sizes",
        "32x24",
        "--reps",
        "2",
        "--warmup",
        "0",
        "--style",
        "c",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["style"], "c");
    assert_eq!(lines[1]["styles"], 3);
    let (frame, switch) = (
        lines[0]["ms"].as_f64().unwrap(),
        lines[1]["ms"].as_f64().unwrap(),
    );
    assert!(
        switch >= 0.0 && switch < frame,
        "switch {switch} ms, frame {frame} ms"
    );
}

/// Frames of a headless live run on the frozen test pattern.
fn live(model: &Path, out: &Path, extra: &[&str]) -> Vec<RgbImage> {
    let mut args = vec![
        "--model",
        s(model),
        "--source",
        "test-pattern",
        "--pattern-time",
        "1",
        "--camera-size",
        "64x48",
        "--infer-size",
        "32x24",
        "--border-pad",
        "0",
        "--headless",
        "--every",
        "1",
        "--quiet",
        "--output",
        s(out),
    ];
    args.extend(extra);
    let o = edge(&args);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    let mut files: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|p| load(p)).collect()
}

/// Mean absolute difference of `f` from the nearest pixel cross-fade of `a` and `b`.
fn off_the_cross_fade(f: &RgbImage, a: &RgbImage, b: &RgbImage) -> f64 {
    (0..=100)
        .map(|k| {
            let t = k as f64 / 100.0;
            f.as_raw()
                .iter()
                .zip(a.as_raw().iter().zip(b.as_raw()))
                .map(|(&v, (&x, &y))| (v as f64 - ((1.0 - t) * x as f64 + t * y as f64)).abs())
                .sum::<f64>()
                / f.as_raw().len() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn live_cycle_morphs_between_styles_of_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = multi_model(dir.path(), "duo.safetensors", &["a", "b"]);
    let a = live(
        &model,
        &dir.path().join("a"),
        &["--style", "a", "--frames", "1"],
    )
    .remove(0);
    let b = live(
        &model,
        &dir.path().join("b"),
        &["--style", "b", "--frames", "1"],
    )
    .remove(0);
    assert!(a != b);
    // A switch every 0.6 s, each morph 0.3 s (half a period): a, a -> b, b, b -> a.
    let frames = live(
        &model,
        &dir.path().join("cycle"),
        &["--cycle", "0.6", "--fps", "60", "--frames", "100"],
    );
    assert_eq!(frames.len(), 100);
    assert_eq!(frames[0], a, "starts with the first style");
    assert!(
        frames.iter().any(|f| *f == b),
        "never reached style b whole"
    );
    let between: Vec<f64> = frames
        .iter()
        .filter(|f| **f != a && **f != b)
        .map(|f| off_the_cross_fade(f, &a, &b))
        .collect();
    assert!(!between.is_empty(), "no frame between the styles");
    // A morph paints blends of the styles' norms, not a mix of their pictures.
    let most = between.iter().cloned().fold(0.0, f64::max);
    // (A cross-fade is within rounding of one: below 1; blends of norms run to 20 here.)
    assert!(most > 5.0, "only pixel cross-fades ({between:?})");
}

#[test]
fn a_video_gets_one_output_per_style_or_the_one_style_asks_for() {
    if !stylecast_e2e::have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = multi_model(dir.path(), "trio.safetensors", &["a", "b", "c"]);
    let clip = dir.path().join("clip.mp4");
    let o = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=48x32:rate=8:duration=1",
        ])
        .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        .arg(&clip)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = |out: &Path, style: Option<&str>| {
        let mut args = vec![
            "--model",
            s(&model),
            "--input",
            s(&clip),
            "--output",
            s(out),
            "--quiet",
        ];
        if let Some(st) = style {
            args.extend(["--style", st]);
        }
        edge(&args)
    };
    let all = dir.path().join("all");
    let o = run(&all, None);
    assert!(o.status.success(), "{}", text(&o));
    let mut names: Vec<String> = std::fs::read_dir(&all)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["clip_a.mp4", "clip_b.mp4", "clip_c.mp4"],
        "{}",
        text(&o)
    );
    let one = dir.path().join("b.mp4");
    let o = run(&one, Some("b"));
    assert!(o.status.success() && one.is_file(), "{}", text(&o));
    // The one style equals that style's output among all of them, frame for frame.
    let frames = |p: &Path| {
        Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(p)
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
            .output()
            .unwrap()
            .stdout
    };
    let (b, alone) = (frames(&all.join("clip_b.mp4")), frames(&one));
    assert!(
        !b.is_empty() && b == alone,
        "--style b differs from b among all styles"
    );
    assert_ne!(
        b,
        frames(&all.join("clip_a.mp4")),
        "styles a and b painted alike"
    );
    let o = run(&dir.path().join("z.mp4"), Some("zz"));
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("trio.safetensors") && text(&o).contains("unknown style \"zz\""),
        "{}",
        text(&o)
    );
}
