//! Training end to end on the CPU: it learns, it resumes exactly, it stops cleanly.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use candle_core::Device;
use host_train::eval::{evaluate, EvalOptions};
use host_train::log::LossRecord;
use host_train::loss::LossConfig;
use host_train::options::TrainOptions;
use host_train::train::{train, EndedBy, Outcome};
use stylecast::{ModelFile, NetConfig};
use stylecast_e2e::{repo_root, shared_dir, tiny_dataset};

fn options(
    dir: &Path,
    dataset: &Path,
    out: &str,
    image_size: u32,
    batch: usize,
    max_steps: u64,
) -> TrainOptions {
    TrainOptions {
        style: shared_dir().join("data/styles/starry_night.jpg"),
        style_name: "starry_night".into(),
        more_styles: Vec::new(),
        dataset: dataset.to_path_buf(),
        out: dir.join(out),
        epochs: 1000,
        max_steps: Some(max_steps),
        batch_size: batch,
        lr: 1e-3,
        image_size,
        style_size: Some(128),
        loss: LossConfig::default(),
        net: NetConfig::default(),
        seed: 3,
        checkpoint_every: 1000,
        preview_every: 0,
        preview_image: None,
        vgg: Some(shared_dir().join("weights/vgg16-features.safetensors")),
        device: "cpu".into(),
        progress: false,
        time_limit: None,
        init: None,
        warmup_steps: None,
        stability: Default::default(),
    }
}

/// Runs the host-train binary with the arguments `args` adds; it must succeed.
fn host_train_cli(args: impl FnOnce(&mut std::process::Command) -> &mut std::process::Command) {
    let mut c = std::process::Command::new(stylecast_e2e::bin("host-train"));
    let run = args(&mut c).output().unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn no_stop() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

fn log(opts: &TrainOptions) -> Vec<LossRecord> {
    std::fs::read_to_string(opts.run_dir().join("losses.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The steps a finished run took and the limit that ended it.
fn finished(o: &TrainOptions) -> (u64, EndedBy) {
    match train(o, None, no_stop()).unwrap() {
        Outcome::Finished {
            steps, ended_by, ..
        } => (steps, ended_by),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_run_ends_at_the_first_of_epochs_max_steps_and_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    // 8 photos at batch 2: 4 steps an epoch.
    let ds = tiny_dataset(dir.path(), 8);
    let mut o = options(dir.path(), &ds, "epochs.safetensors", 32, 2, 1000);
    o.epochs = 2;
    assert_eq!(finished(&o), (8, EndedBy::Epochs));
    o.max_steps = Some(3);
    assert_eq!(finished(&o), (3, EndedBy::MaxSteps));
    // A time limit already passed ends the run after its first step, as a finished run:
    // the model is written and says how many steps made it.
    let mut o = options(dir.path(), &ds, "timed.safetensors", 32, 2, 1000);
    o.time_limit = Some(0.0);
    assert_eq!(finished(&o), (1, EndedBy::TimeLimit));
    let m = ModelFile::load(&o.out, &Device::Cpu).unwrap();
    assert_eq!(m.meta.training.unwrap()["steps"].as_u64(), Some(1));
    assert_eq!(log(&o).len(), 1);
}

#[test]
fn training_learns_the_style() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 16);
    let mut o = options(dir.path(), &ds, "learn.safetensors", 64, 2, 100);
    o.preview_every = 50;
    assert_eq!(finished(&o), (100, EndedBy::MaxSteps));
    let h = log(&o);
    assert_eq!(h.len(), 100);
    let mean =
        |r: &[LossRecord], f: fn(&LossRecord) -> f64| r.iter().map(f).sum::<f64>() / r.len() as f64;
    let (first, last) = (&h[..10], &h[90..]);
    let (s0, s1) = (mean(first, |r| r.style), mean(last, |r| r.style));
    assert!(
        s1 < 0.5 * s0,
        "style loss fell only from {s0:.3e} to {s1:.3e}"
    );
    // Content may rise as the style takes over, but stays bounded.
    let (c0, c1) = (mean(first, |r| r.content), mean(last, |r| r.content));
    assert!(
        c1.is_finite() && c1 < 20.0 * c0.max(1.0),
        "content loss {c0:.3e} -> {c1:.3e}"
    );
    // Everything a finished run promises exists.
    let m = ModelFile::load(&o.out, &Device::Cpu).unwrap();
    assert_eq!(m.meta.style, "starry_night");
    let t = m.meta.training.as_ref().unwrap();
    assert_eq!(t["steps"], 100);
    assert!(t["style_sha256"].as_str().unwrap().len() == 64);
    assert_eq!(
        ModelFile::load(&o.f16_path(), &Device::Cpu)
            .unwrap()
            .dtype(),
        candle_core::DType::F16
    );
    for f in [
        "loss_curve.png",
        "preview-000050.png",
        "preview-final.png",
        "checkpoint.safetensors",
    ] {
        assert!(o.run_dir().join(f).exists(), "{f} missing");
    }
}

fn weights(path: &Path) -> Vec<(String, Vec<f32>)> {
    let m = ModelFile::load(path, &Device::Cpu).unwrap();
    let mut v: Vec<(String, Vec<f32>)> = m
        .tensors
        .iter()
        .map(|(k, t)| {
            (
                k.clone(),
                t.to_dtype(candle_core::DType::F32)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Rewrites `seconds` in a checkpoint's saved state (the header only; tensors untouched).
fn set_checkpoint_seconds(path: &Path, seconds: f64) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let md = &mut header["__metadata__"];
    let mut state: serde_json::Value = serde_json::from_str(md["state"].as_str().unwrap()).unwrap();
    assert!(
        state["seconds"].as_f64().unwrap() > 0.0,
        "checkpoints record their seconds"
    );
    state["seconds"] = seconds.into();
    md["state"] = state.to_string().into();
    let mut h = header.to_string().into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(&bytes[8 + n..]);
    std::fs::write(path, out).unwrap();
}

#[test]
fn resume_gives_identical_weights() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 5);
    let k = 3;
    // Straight through: 2k steps (5 photos, batch 2: the epoch boundary is crossed).
    // With a learning-rate warmup longer than the first segment, so its schedule must
    // carry across the resumes too.
    // The stability term on too: its random shifts and noise must replay exactly.
    let mut a = options(dir.path(), &ds, "straight.safetensors", 32, 2, 2 * k);
    a.warmup_steps = Some(k + 1);
    a.stability.weight = 1.0;
    train(&a, None, no_stop()).unwrap();

    // Interrupted (Ctrl-C before the first step ends), then resumed twice; the resumes
    // leave the warmup unset, so it must come from the checkpoint.
    let mut b = options(dir.path(), &ds, "resumed.safetensors", 32, 2, k);
    b.warmup_steps = Some(k + 1);
    b.stability.weight = 1.0;
    match train(&b, None, Arc::new(AtomicBool::new(true))).unwrap() {
        Outcome::Interrupted { step, checkpoint } => {
            assert_eq!(step, 1);
            assert!(checkpoint.exists());
        }
        other => panic!("expected an interruption, got {other:?}"),
    }
    assert!(
        !b.out.exists(),
        "an interrupted run must not write the final model"
    );
    b.warmup_steps = None;
    train(&b, Some(&b.checkpoint_path()), no_stop()).unwrap();
    // The time so far travels in the checkpoint; pretend it was 1000 s, so the final
    // model must count it besides the last segment's own time.
    set_checkpoint_seconds(&b.checkpoint_path(), 1000.0);
    b.max_steps = Some(2 * k);
    train(&b, Some(&b.checkpoint_path()), no_stop()).unwrap();
    let t = ModelFile::load(&b.out, &Device::Cpu)
        .unwrap()
        .meta
        .training
        .unwrap();
    let secs = t["seconds"].as_f64().unwrap();
    assert!(
        (1000.0..1500.0).contains(&secs),
        "a resumed run's seconds should include the earlier segments: {secs}"
    );

    let (wa, wb) = (weights(&a.out), weights(&b.out));
    for ((na, va), (nb, vb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        assert!(va == vb, "{na} differs after resume");
    }
    let (la, lb) = (log(&a), log(&b));
    assert_eq!(la.len(), lb.len());
    for (x, y) in la.iter().zip(&lb) {
        assert_eq!((x.step, x.total), (y.step, y.total), "loss history differs");
    }

    // A resume with different options is refused, naming what differs.
    let mut c = b.clone();
    c.lr = 5e-4;
    let e = train(&c, Some(&b.checkpoint_path()), no_stop())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lr") && e.contains("checkpoint.safetensors"),
        "{e}"
    );
    let mut c = b.clone();
    c.stability.weight = 0.0;
    let e = train(&c, Some(&b.checkpoint_path()), no_stop())
        .unwrap_err()
        .to_string();
    assert!(e.contains("stability"), "{e}");
    assert!(
        la.iter().all(|r| r.stability > 0.0),
        "the log records the stability term"
    );
}

#[test]
fn non_finite_loss_stops_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 2);
    let mut o = options(dir.path(), &ds, "nan.safetensors", 32, 1, 3);
    o.loss.style_weight = f64::INFINITY;
    let e = train(&o, None, no_stop()).unwrap_err().to_string();
    assert!(
        e.contains("loss became inf at step 1") && e.contains("diverged"),
        "{e}"
    );
    assert!(!o.out.exists());
}

#[test]
fn missing_vgg_weights_say_where_to_put_them() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 2);
    let mut o = options(dir.path(), &ds, "x.safetensors", 32, 1, 1);
    o.vgg = Some(dir.path().join("nowhere/vgg16.safetensors"));
    let e = format!("{:#}", train(&o, None, no_stop()).unwrap_err());
    assert!(
        e.contains("nowhere/vgg16.safetensors") && e.contains("no such file"),
        "{e}"
    );
}

#[test]
fn dataset_without_images_is_fatal_but_bad_files_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("readme.txt"), "no photos").unwrap();
    let o = options(dir.path(), &empty, "x.safetensors", 32, 1, 1);
    let e = train(&o, None, no_stop()).unwrap_err().to_string();
    assert!(e.contains("no images"), "{e}");

    let ds = tiny_dataset(dir.path(), 3);
    std::fs::write(ds.join("broken.jpg"), b"not a jpeg").unwrap();
    let o = options(dir.path(), &ds, "y.safetensors", 32, 2, 4);
    train(&o, None, no_stop()).unwrap();
    let m = ModelFile::load(&o.out, &Device::Cpu).unwrap();
    assert_eq!(m.meta.training.as_ref().unwrap()["skipped_images"], 1);
}

#[test]
fn init_starts_from_a_model_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 3);
    let first = options(dir.path(), &ds, "first.safetensors", 32, 1, 2);
    train(&first, None, no_stop()).unwrap();

    // From the f16 copy with a zero learning rate: the weights written are exactly the
    // f16 values (Adam moves nothing), so they came from the file, not from the seed.
    let mut again = options(dir.path(), &ds, "again.safetensors", 32, 1, 1);
    again.init = Some(first.f16_path());
    again.lr = 0.0;
    train(&again, None, no_stop()).unwrap();
    let (w16, wa) = (weights(&first.f16_path()), weights(&again.out));
    assert_eq!(w16.len(), wa.len());
    for ((n16, v16), (na, va)) in w16.iter().zip(&wa) {
        assert_eq!(n16, na);
        assert!(v16 == va, "{na} is not the --init model's");
    }
    let fresh = weights(&first.out);
    assert!(
        fresh.iter().zip(&wa).any(|(f, a)| f.1 != a.1),
        "f16 rounding changed nothing?"
    );
    let t = ModelFile::load(&again.out, &Device::Cpu)
        .unwrap()
        .meta
        .training
        .unwrap();
    assert_eq!(t["steps"], 1);
    assert_eq!(t["total_steps"], 3, "{t}");
    assert_eq!(t["init"]["file"], "first.f16.safetensors");
    assert_eq!(t["init"]["steps"], 2);
    assert_eq!(t["init"]["dtype"], "f16");
    assert_eq!(
        t["init"]["training"]["steps"], 2,
        "the first stage's record is kept"
    );
    assert_eq!(t["init"]["training"]["seed"], 3);

    // A model of another network shape, or a file that is no model, names the file.
    let mut small = options(dir.path(), &ds, "small.safetensors", 32, 1, 1);
    small.net = NetConfig::small();
    small.init = Some(first.out.clone());
    let e = format!("{:#}", train(&small, None, no_stop()).unwrap_err());
    assert!(
        e.contains("first.safetensors") && e.contains("--net"),
        "{e}"
    );
    let mut bogus = options(dir.path(), &ds, "bogus.safetensors", 32, 1, 1);
    bogus.init = Some(shared_dir().join("data/styles/starry_night.jpg"));
    let e = format!("{:#}", train(&bogus, None, no_stop()).unwrap_err());
    assert!(
        e.contains("starry_night.jpg") && e.contains("safetensors"),
        "{e}"
    );
    assert!(!small.out.exists() && !bogus.out.exists());
}

#[test]
fn a_checkpoint_exports_as_a_model_of_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 2);
    let o = options(dir.path(), &ds, "partial.safetensors", 32, 1, 5);
    // Ctrl-C during the first step: a checkpoint at step 1, no model.
    let Outcome::Interrupted { checkpoint, .. } =
        train(&o, None, Arc::new(AtomicBool::new(true))).unwrap()
    else {
        panic!("expected an interruption");
    };
    assert!(!o.out.exists());
    let exported = dir.path().join("exported.f16.safetensors");
    host_train_cli(|c| c.arg("export").arg("--f16").arg(&checkpoint).arg(&exported));
    let saved = host_train::checkpoint::load(&checkpoint, &Device::Cpu).unwrap();
    let m = ModelFile::load(&exported, &Device::Cpu).unwrap();
    assert_eq!(m.meta.style, "starry_night");
    let t = m.meta.training.as_ref().unwrap();
    assert_eq!(t["steps"], 1);
    assert_eq!(t["from_checkpoint"], "checkpoint.safetensors");
    // Within 1e-12: serde_json's default float parsing may land an ulp off the printed value.
    let seconds = t["seconds"].as_f64().expect("seconds in the metadata");
    assert!((seconds - saved.state.seconds).abs() <= 1e-12 * saved.state.seconds);
    assert!(saved.state.seconds > 0.0);
    assert_eq!(m.tensors.len(), saved.params.len());
    for (name, p) in &saved.params {
        let want = stylecast_e2e::to_f32_vec(&p.to_dtype(candle_core::DType::F16).unwrap());
        assert!(
            stylecast_e2e::to_f32_vec(&m.tensors[name]) == want,
            "{name}"
        );
    }
    // The exported model is what a resume would have continued from: it stylizes.
    let s = stylecast::Stylizer::load(&exported, &Device::Cpu, stylecast::Precision::F32).unwrap();
    let img = image::RgbImage::from_pixel(16, 12, image::Rgb([90, 120, 200]));
    assert_eq!(
        s.stylize(&img, &Default::default()).unwrap().dimensions(),
        (16, 12)
    );
}

#[test]
fn init_continues_with_the_models_loss_settings_unless_given() {
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 2);
    let train_cli = |out: &str, extra: &[&str]| -> serde_json::Value {
        let out = dir.path().join(out);
        host_train_cli(|c| {
            c.arg("train")
                .arg("--style")
                .arg(shared_dir().join("data/styles/starry_night.jpg"))
                .arg("--dataset")
                .arg(&ds)
                .arg("--out")
                .arg(&out)
                .arg("--vgg")
                .arg(shared_dir().join("weights/vgg16-features.safetensors"))
                .args([
                    "--max-steps",
                    "1",
                    "--batch-size",
                    "1",
                    "--image-size",
                    "32",
                    "--quiet",
                ])
                .args(extra)
        });
        ModelFile::load(&out, &Device::Cpu)
            .unwrap()
            .meta
            .training
            .unwrap()
    };
    let first = train_cli(
        "first.safetensors",
        &[
            "--style-weight",
            "5e9",
            "--tv-weight",
            "0.5",
            "--style-size",
            "64",
            "--content-layer",
            "relu2_2",
            "--style-layers",
            "relu1_2:2,relu4_3",
        ],
    );
    assert_eq!(first["loss"]["style_weight"], 5e9);
    let init = dir.path().join("first.f16.safetensors");
    let init = init.to_str().unwrap();
    let second = train_cli("second.safetensors", &["--init", init]);
    assert_eq!(
        second["loss"], first["loss"],
        "the model's loss settings carry on"
    );
    assert_eq!(second["style_size"], 64);
    let third = train_cli(
        "third.safetensors",
        &["--init", init, "--style-weight", "2e9"],
    );
    assert_eq!(third["loss"]["style_weight"], 2e9, "what is given wins");
    assert_eq!(third["loss"]["tv_weight"], 0.5);
    assert_eq!(third["loss"]["content_layer"], "relu2_2");
    // Without --init, the documented defaults.
    let plain = train_cli("plain.safetensors", &[]);
    assert_eq!(plain["loss"]["style_weight"], 1e10);
    assert_eq!(plain["loss"]["content_weight"], 1e5);
    assert_eq!(plain["style_size"], serde_json::Value::Null);
}

/// Largest absolute weight change between two model files.
fn max_change(a: &Path, b: &Path) -> f32 {
    weights(a)
        .iter()
        .zip(&weights(b))
        .flat_map(|((_, x), (_, y))| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}

#[test]
fn warmup_softens_the_first_steps_from_a_trained_model() {
    // Adam's first update moves each weight by about lr (m/sqrt(v) = +-1 at t = 1); with a
    // warmup of N steps, by lr/N. Continuing a model, --init warms up 100 steps by default.
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 2);
    let start = options(dir.path(), &ds, "start.safetensors", 32, 1, 1);
    train(&start, None, no_stop()).unwrap();
    let step_from_start = |name: &str, warmup: Option<u64>| {
        let mut o = options(dir.path(), &ds, name, 32, 1, 1);
        o.init = Some(start.out.clone());
        o.warmup_steps = warmup;
        train(&o, None, no_stop()).unwrap();
        let t = ModelFile::load(&o.out, &Device::Cpu)
            .unwrap()
            .meta
            .training
            .unwrap();
        (max_change(&start.out, &o.out), t["warmup_steps"].as_u64())
    };
    let (cold, w0) = step_from_start("cold.safetensors", Some(0));
    let (warm, w10) = step_from_start("warm.safetensors", Some(10));
    let (default, wd) = step_from_start("default.safetensors", None);
    assert_eq!((w0, w10, wd), (Some(0), Some(10), Some(100)));
    assert!((0.9e-3..=1.01e-3).contains(&cold), "no warmup: {cold}");
    assert!((0.9e-4..=1.01e-4).contains(&warm), "warmup 10: {warm}");
    assert!(
        (0.9e-5..=1.01e-5).contains(&default),
        "--init default: {default}"
    );
}

#[test]
fn stability_training_steadies_the_output() {
    // A shipped style re-paints its strokes when the picture moves by a pixel (eval's
    // flicker). The same short fine-tune with and without the stability term: with it,
    // the flicker must fall well below the run without, at a bounded cost in content.
    let dir = tempfile::tempdir().unwrap();
    let ds = tiny_dataset(dir.path(), 16);
    let run = |name: &str, weight: f64| {
        let mut o = options(dir.path(), &ds, name, 128, 2, 40);
        o.net = NetConfig::small();
        o.style_size = Some(256);
        o.init = Some(repo_root().join("models/small/starry_night.safetensors"));
        o.warmup_steps = Some(5);
        o.stability.weight = weight;
        train(&o, None, no_stop()).unwrap();
        o.out
    };
    let plain = run("plain.safetensors", 0.0);
    let steady = run("steady.safetensors", 1e5);
    let t = ModelFile::load(&steady, &Device::Cpu)
        .unwrap()
        .meta
        .training
        .unwrap();
    assert_eq!(t["stability"]["weight"], 1e5);
    let s = evaluate(&EvalOptions {
        models: vec![plain, steady],
        photos: shared_dir().join("data/content/test"),
        styles: shared_dir().join("data/styles"),
        size: 128,
        style_size: Some(256),
        vgg: Some(shared_dir().join("weights/vgg16-features.safetensors")),
        device: "cpu".into(),
        json: None,
    })
    .unwrap();
    let (p, q) = (&s[0], &s[1]);
    eprintln!(
        "flicker {:.2} -> {:.2}, content {:.1} -> {:.1}",
        p.flicker, q.flicker, p.content, q.content
    );
    assert!(
        q.flicker < 0.7 * p.flicker,
        "flicker {:.2} with the term, {:.2} without",
        q.flicker,
        p.flicker
    );
    assert!(
        q.content < 1.5 * p.content,
        "content {:.1} with the term, {:.1} without",
        q.content,
        p.content
    );
}
