//! Multi-style training (one network, a style per image) and `host-train add-style`
//! (a new style's instance norms only), end to end on the CPU with a small network and
//! tiny crops.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor};
use host_train::add_style::{add_style, AddStyleOptions, Start, DEFAULT_LR};
use host_train::log::LossRecord;
use host_train::loss::LossConfig;
use host_train::options::TrainOptions;
use host_train::train::train;
use stylecast::{ModelFile, NetConfig};
use stylecast_e2e::{repo_root, shared_dir, tiny_dataset};

const STYLES: [&str; 3] = ["starry_night", "the_scream", "the_great_wave"];

fn style(name: &str) -> PathBuf {
    shared_dir().join(format!("data/styles/{name}.jpg"))
}

fn vgg() -> Option<PathBuf> {
    Some(shared_dir().join("weights/vgg16-features.safetensors"))
}

/// A multi-style run of the styles `names`, small network, `size` px crops.
fn options(
    dir: &Path,
    ds: &Path,
    out: &str,
    names: &[&str],
    steps: u64,
    size: u32,
) -> TrainOptions {
    TrainOptions {
        style: style(names[0]),
        style_name: names[0].into(),
        more_styles: names[1..].iter().map(|n| style(n)).collect(),
        dataset: ds.to_path_buf(),
        out: dir.join(out),
        epochs: 1000,
        max_steps: Some(steps),
        batch_size: 3,
        lr: 1e-2,
        image_size: size,
        style_size: Some(96),
        loss: LossConfig::default(),
        net: NetConfig::small().with_styles(names.len()),
        seed: 5,
        checkpoint_every: 1000,
        preview_every: 0,
        preview_image: None,
        vgg: vgg(),
        device: "cpu".into(),
        progress: false,
        time_limit: None,
        init: None,
        warmup_steps: None,
        stability: Default::default(),
    }
}

fn no_stop() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

fn log(opts: &TrainOptions) -> Vec<LossRecord> {
    host_train::log::read(&opts.run_dir().join("losses.jsonl")).unwrap()
}

/// Each style's mean weighted style loss over the records `r` (per-style entries).
fn style_means(r: &[LossRecord], styles: usize) -> Vec<f64> {
    (0..styles)
        .map(|s| {
            let v: Vec<f64> = r
                .iter()
                .flat_map(|x| x.styles.iter().filter(|e| e.index == s).map(|e| e.style))
                .collect();
            assert!(!v.is_empty(), "style {s} never drawn in {} steps", r.len());
            v.iter().sum::<f64>() / v.len() as f64
        })
        .collect()
}

fn tensors(path: &Path) -> HashMap<String, Tensor> {
    ModelFile::load(path, &Device::Cpu).unwrap().tensors
}

fn values(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

#[test]
fn a_multi_style_run_lowers_every_styles_loss_and_writes_a_multi_style_model() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 8);
    let mut o = options(dir.path(), &ds, "three.safetensors", &STYLES, 40, 48);
    o.preview_every = 40;
    train(&o, None, no_stop()).unwrap();
    let h = log(&o);
    assert_eq!(h.len(), 40);
    assert!(h
        .iter()
        .all(|r| r.styles.iter().map(|s| s.n).sum::<usize>() == 3));
    let (early, late) = (style_means(&h[..10], 3), style_means(&h[30..], 3));
    eprintln!("per-style style loss, steps 1-10 {early:?}, steps 31-40 {late:?}");
    for s in 0..3 {
        assert!(
            late[s] < 0.7 * early[s],
            "{}: style loss fell only from {:.3e} to {:.3e}",
            STYLES[s],
            early[s],
            late[s]
        );
    }
    let m = ModelFile::load(&o.out, &Device::Cpu).unwrap();
    assert_eq!(m.meta.config.styles, 3);
    assert_eq!(m.names(), STYLES);
    assert_eq!(m.meta.style, "three");
    let t = m.meta.training.clone().unwrap();
    assert_eq!(t["styles"][1]["image"], "the_scream.jpg");
    let f16 = ModelFile::load(&o.f16_path(), &Device::Cpu).unwrap();
    assert_eq!((f16.dtype(), f16.names()), (DType::F16, m.names()));
    // The preview: the photo in every style, side by side.
    let p = image::open(o.run_dir().join("preview-final.png")).unwrap();
    let q = image::open(o.run_dir().join("preview-000040.png")).unwrap();
    assert_eq!(p.width(), q.width());
    assert!(
        p.width() >= 3 * p.height() / 2,
        "{}x{}",
        p.width(),
        p.height()
    );
    assert!(o.run_dir().join("loss_curve.png").exists());
}

#[test]
fn a_multi_style_run_resumes_exactly_and_refuses_another_style_list() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 5);
    let names = &STYLES[..2];
    let a = options(dir.path(), &ds, "straight.safetensors", names, 4, 32);
    train(&a, None, no_stop()).unwrap();
    let mut b = options(dir.path(), &ds, "resumed.safetensors", names, 2, 32);
    train(&b, None, no_stop()).unwrap();
    b.max_steps = Some(4);
    train(&b, Some(&b.checkpoint_path()), no_stop()).unwrap();
    let (ta, tb) = (tensors(&a.out), tensors(&b.out));
    assert_eq!(ta.len(), tb.len());
    for (k, v) in &ta {
        assert!(values(v) == values(&tb[k]), "{k} differs after resume");
    }
    let (la, lb) = (log(&a), log(&b));
    for (x, y) in la.iter().zip(&lb) {
        assert_eq!(
            x.styles, y.styles,
            "step {}: per-style losses differ",
            x.step
        );
    }
    // Another list of styles is another run.
    let mut c = b.clone();
    c.more_styles = vec![style(STYLES[2])];
    let e = match train(&c, Some(&b.checkpoint_path()), no_stop()) {
        Err(e) => e.to_string(),
        Ok(o) => panic!("resumed with other styles: {o:?}"),
    };
    assert!(e.contains("more_styles"), "{e}");
}

/// The shipped small starry_night, copied (a trained base: its shared convolutions paint,
/// so a new style's scales and shifts alone can take the output towards another painting).
fn base_model(path: &Path) -> ModelFile {
    std::fs::copy(
        repo_root().join("models/small/starry_night.safetensors"),
        path,
    )
    .unwrap();
    ModelFile::load(path, &Device::Cpu).unwrap()
}

fn add_options(dir: &Path, ds: &Path, base: &Path, painting: &str, out: &str) -> AddStyleOptions {
    AddStyleOptions {
        base: base.to_path_buf(),
        style: style(painting),
        out: dir.join(out),
        name: None,
        start: Start::Mean,
        steps: 16,
        time_limit: None,
        dataset: ds.to_path_buf(),
        image_size: 64,
        batch_size: 2,
        lr: DEFAULT_LR,
        style_size: Some(96),
        loss: LossConfig::default(),
        seed: 1,
        vgg: vgg(),
        device: "cpu".into(),
        progress: false,
        log: None,
    }
}

#[test]
fn add_style_trains_only_the_new_style_and_keeps_everything_else_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 6);
    let base_path = dir.path().join("base.safetensors");
    let base = base_model(&base_path);
    let mut o = add_options(dir.path(), &ds, &base_path, "the_scream", "two.safetensors");
    o.log = Some(dir.path().join("add.jsonl"));
    let r = add_style(&o, &AtomicBool::new(false)).unwrap();
    assert_eq!(r.steps, 16);
    // The time-to-loss log: a line a step, seconds rising.
    let log: Vec<serde_json::Value> = std::fs::read_to_string(o.log.as_ref().unwrap())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(log.len(), 16);
    assert!(log
        .windows(2)
        .all(|w| w[1]["seconds"].as_f64() >= w[0]["seconds"].as_f64()));
    assert_eq!(log[15]["step"], 16);
    assert!(log[0]["style"].as_f64().unwrap() > 0.0);
    eprintln!(
        "add-style: style loss {:.3e} -> {:.3e}",
        r.first_style, r.last_style
    );
    assert!(
        r.last_style < 0.8 * r.first_style,
        "the new style's loss fell only from {:.3e} to {:.3e}",
        r.first_style,
        r.last_style
    );
    let two = ModelFile::load(&o.out, &Device::Cpu).unwrap();
    assert_eq!(two.names(), ["starry_night", "the_scream"]);
    assert_eq!(two.meta.config.styles, 2);
    let t = two.meta.training.as_ref().unwrap();
    assert_eq!(t["add_style"]["base"], "base.safetensors");
    assert_eq!(t["add_style"]["steps"], 16);
    let mut new_moved = false;
    for (k, v) in &base.tensors {
        let out = &two.tensors[k];
        if k.contains(".conv2d.") {
            assert!(values(v) == values(out), "{k}: a shared weight changed");
        } else {
            // Row 0 is the base's style, exactly; row 1 the new one, moved from its start.
            assert!(
                values(v) == values(&out.get(0).unwrap()),
                "{k}: the base style changed"
            );
            new_moved |= values(v) != values(&out.get(1).unwrap());
        }
    }
    assert!(new_moved, "the new style's rows never moved");
    assert!(o.f16_path().exists());

    // Onto the two-style result, from the nearest style: three styles, the first two kept.
    let mut o3 = add_options(
        dir.path(),
        &ds,
        &o.out,
        "the_great_wave",
        "three.safetensors",
    );
    o3.start = Start::Nearest;
    o3.steps = 1;
    let r3 = add_style(&o3, &AtomicBool::new(false)).unwrap();
    assert!(r3.started_from.is_some());
    let three = ModelFile::load(&o3.out, &Device::Cpu).unwrap();
    assert_eq!(
        three.names(),
        ["starry_night", "the_scream", "the_great_wave"]
    );
    for (k, v) in &two.tensors {
        let out = &three.tensors[k];
        let kept = if k.contains(".conv2d.") {
            out.clone()
        } else {
            out.narrow(0, 0, 2).unwrap()
        };
        assert!(
            values(v) == values(&kept),
            "{k} changed in the second add-style"
        );
    }
    // The same name twice is refused, naming what the base holds.
    let e = add_style(
        &add_options(dir.path(), &ds, &o.out, "the_scream", "again.safetensors"),
        &AtomicBool::new(false),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("already holds a style named \"the_scream\""),
        "{e}"
    );
}

/// `host-train` with `args`; must fail. Its stderr.
fn host_train_fails(args: &[&std::ffi::OsStr]) -> String {
    let run = std::process::Command::new(stylecast_e2e::bin("host-train"))
        .args(args)
        .output()
        .unwrap();
    assert!(!run.status.success(), "{args:?} succeeded");
    String::from_utf8_lossy(&run.stderr).into_owned()
}

#[test]
fn bad_styles_and_bases_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 2);
    // A missing style among several: the run stops before loading anything, naming it.
    let mut o = options(dir.path(), &ds, "m.safetensors", &STYLES[..2], 1, 32);
    o.more_styles.push(dir.path().join("nowhere.jpg"));
    o.net = o.net.with_styles(3);
    let e = train(&o, None, no_stop())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("nowhere.jpg: style image not found"), "{e}");
    // Two files with one stem would be one name.
    let mut o = options(dir.path(), &ds, "m.safetensors", &STYLES[..2], 1, 32);
    let copy = dir.path().join("the_scream.jpg");
    std::fs::copy(style("the_scream"), &copy).unwrap();
    o.more_styles.push(copy);
    o.net = o.net.with_styles(3);
    let e = train(&o, None, no_stop())
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("would both be the style \"the_scream\""), "{e}");

    let s = |p: &Path| p.as_os_str().to_owned();
    let out = dir.path().join("o.safetensors");
    let empty = dir.path().join("no_paintings");
    std::fs::create_dir(&empty).unwrap();
    let e = host_train_fails(&[
        "train".as_ref(),
        "--styles".as_ref(),
        &s(&empty),
        "--dataset".as_ref(),
        &s(&ds),
        "--out".as_ref(),
        &s(&out),
    ]);
    assert!(e.contains("no_paintings: no style images"), "{e}");
    let e = host_train_fails(&[
        "train".as_ref(),
        "--style".as_ref(),
        &s(&style("udnie")),
        "--style".as_ref(),
        &s(&dir.path().join("missing.png")),
        "--dataset".as_ref(),
        &s(&ds),
        "--out".as_ref(),
        &s(&out),
        "--quiet".as_ref(),
    ]);
    assert!(e.contains("missing.png: style image not found"), "{e}");

    // add-style on a photo, not a model.
    let photo = std::fs::read_dir(&ds)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let e = host_train_fails(&[
        "add-style".as_ref(),
        &s(&photo),
        "--style".as_ref(),
        &s(&style("udnie")),
        "--dataset".as_ref(),
        &s(&ds),
        "--out".as_ref(),
        &s(&out),
    ]);
    let name = photo.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        e.contains(&name) && e.contains("not a usable stylecast model"),
        "{e}"
    );
    assert!(!out.exists());
}
