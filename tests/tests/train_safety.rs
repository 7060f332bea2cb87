//! host-train under careless use: a rerun does not wipe a run, SIGTERM and SIGHUP save
//! like Ctrl-C, diverged weights never become a checkpoint, bad outputs and values are
//! refused before training, and an absurdly wide photo does not blow the memory.
//! Everything is tiny: 64-256 px crops, the small network, 1-3 steps.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use candle_core::{Device, Tensor};
use host_train::adam::{Adam, AdamConfig};
use host_train::checkpoint::{self, CheckpointState, CHECKPOINT_FORMAT};
use host_train::loss::LossConfig;
use host_train::model::Trainable;
use host_train::options::TrainOptions;
use stylecast::NetConfig;
use stylecast_e2e::{bin, shared_dir};

fn vgg() -> PathBuf {
    shared_dir().join("weights/vgg16-features.safetensors")
}

fn style() -> PathBuf {
    shared_dir().join("data/styles/starry_night.jpg")
}

/// Two test photos, copied into `dir/photos`.
fn photos(dir: &Path) -> PathBuf {
    let ds = dir.join("photos");
    std::fs::create_dir_all(&ds).unwrap();
    for name in ["amber.jpg", "chicago.jpg"] {
        std::fs::copy(
            shared_dir().join("data/content/test").join(name),
            ds.join(name),
        )
        .unwrap();
    }
    ds
}

/// `host-train train` on `dataset` into `out` with `extra`, and tiny settings for what
/// `extra` does not set (clap refuses a flag given twice).
fn train_cmd(dataset: &Path, out: &Path, extra: &[&str]) -> Command {
    let style = style();
    let vgg = vgg();
    let defaults = [
        ("--style", style.to_str().unwrap()),
        ("--vgg", vgg.to_str().unwrap()),
        ("--image-size", "64"),
        ("--style-size", "64"),
        ("--batch-size", "1"),
        ("--net", "small"),
    ];
    let mut c = Command::new(bin("host-train"));
    c.arg("train")
        .arg("--dataset")
        .arg(dataset)
        .arg("--out")
        .arg(out)
        .arg("--quiet");
    for (flag, value) in defaults {
        if !extra.iter().any(|a| a.split('=').next() == Some(flag)) {
            c.args([flag, value]);
        }
    }
    c.args(extra).env("RUST_BACKTRACE", "0");
    c
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn log_lines(run_dir: &Path) -> usize {
    std::fs::read_to_string(run_dir.join("losses.jsonl"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_rerun_without_resume_is_refused_and_overwrite_moves_the_run_aside() {
    let dir = tempfile::tempdir().unwrap();
    let ds = photos(dir.path());
    let out = dir.path().join("m.safetensors");
    let run = dir.path().join("m.run");
    let o = train_cmd(&ds, &out, &["--max-steps", "3"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let ckpt = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    let model = std::fs::read(&out).unwrap();

    let o = train_cmd(&ds, &out, &["--max-steps", "1"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success(), "the rerun was accepted");
    assert!(
        err.contains("already holds a run (at step 3)")
            && err.contains("--resume")
            && err.contains("checkpoint.safetensors")
            && err.contains("--overwrite"),
        "{err}"
    );
    assert_eq!(log_lines(&run), 3, "the log was touched");
    assert_eq!(
        std::fs::read(run.join("checkpoint.safetensors")).unwrap(),
        ckpt
    );
    assert_eq!(std::fs::read(&out).unwrap(), model);

    let o = train_cmd(&ds, &out, &["--max-steps", "1", "--overwrite"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("m.run.old-1"), "{}", stderr(&o));
    let old = dir.path().join("m.run.old-1");
    assert_eq!(log_lines(&old), 3);
    assert_eq!(
        std::fs::read(old.join("checkpoint.safetensors")).unwrap(),
        ckpt
    );
    assert_eq!(log_lines(&run), 1);
}

/// Polls (no timing asserted) until the run has logged a step, or fails after a while.
fn wait_for_a_step(run_dir: &Path, child: &mut std::process::Child) {
    for _ in 0..6000 {
        if log_lines(run_dir) > 0 {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("training ended before its first step: {status}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("no step logged in 5 minutes");
}

#[test]
fn sigterm_and_sighup_save_a_checkpoint_like_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let ds = photos(dir.path());
    for signal in ["TERM", "HUP"] {
        let out = dir.path().join(format!("{signal}.safetensors"));
        let run = dir.path().join(format!("{signal}.run"));
        let mut child = train_cmd(
            &ds,
            &out,
            &["--epochs", "100000", "--checkpoint-every", "100000"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
        wait_for_a_step(&run, &mut child);
        let sent = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let o = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(130), "SIG{signal}: {}", stderr(&o));
        assert!(
            stdout.contains("interrupted at step"),
            "SIG{signal}: {stdout}"
        );
        let c = checkpoint::load(&run.join("checkpoint.safetensors"), &Device::Cpu).unwrap();
        assert!(c.state.step >= 1, "SIG{signal}: step {}", c.state.step);
        assert!(
            !out.exists(),
            "SIG{signal}: an interrupted run wrote the model"
        );
    }
}

fn options(dir: &Path) -> TrainOptions {
    TrainOptions {
        style: style(),
        style_name: "starry_night".into(),
        more_styles: Vec::new(),
        dataset: dir.join("photos"),
        out: dir.join("m.safetensors"),
        epochs: 1,
        max_steps: Some(1),
        batch_size: 1,
        lr: 1e-3,
        image_size: 64,
        style_size: Some(64),
        loss: LossConfig::default(),
        net: NetConfig::small(),
        seed: 1,
        checkpoint_every: 1,
        preview_every: 0,
        preview_image: None,
        vgg: Some(vgg()),
        device: "cpu".into(),
        progress: false,
        time_limit: None,
        init: None,
        warmup_steps: Some(0),
        stability: Default::default(),
    }
}

/// A checkpoint file of a small network whose first weight is `first` (as written by
/// a run whose weights went non-finite before the checks existed).
fn write_checkpoint_raw(path: &Path, opts: &TrainOptions, first: f32) -> String {
    let model = Trainable::new(&opts.net, &Device::Cpu, 1).unwrap();
    let adam = Adam::new(model.named_vars(), AdamConfig::default()).unwrap();
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let mut names: Vec<String> = adam.slots.keys().cloned().collect();
    names.sort();
    for (name, slot) in &adam.slots {
        let mut p = slot.var.as_tensor().detach();
        if *name == names[0] {
            let mut v = stylecast_e2e::to_f32_vec(&p);
            v[0] = first;
            p = Tensor::from_vec(v, p.shape(), &Device::Cpu).unwrap();
        }
        tensors.insert(format!("param.{name}"), p);
        tensors.insert(format!("adam_m.{name}"), slot.m.detach());
        tensors.insert(format!("adam_v.{name}"), slot.v.detach());
    }
    let state = CheckpointState {
        step: 1,
        options: opts.clone(),
        init: None,
        seconds: 1.0,
    };
    let mut md = HashMap::new();
    md.insert("format".to_string(), CHECKPOINT_FORMAT.to_string());
    md.insert("state".to_string(), serde_json::to_string(&state).unwrap());
    md.insert("adam_t".to_string(), "1".to_string());
    let bytes = stylecast::io::model_file::serialize_tensors(&tensors, md).unwrap();
    std::fs::write(path, bytes).unwrap();
    format!("param.{}", names[0])
}

#[test]
fn a_checkpoint_holding_nan_is_refused_naming_the_file_and_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let ds = photos(dir.path());
    let opts = options(dir.path());
    let ckpt = dir.path().join("nan.safetensors");
    let tensor = write_checkpoint_raw(&ckpt, &opts, f32::NAN);
    let e = checkpoint::load(&ckpt, &Device::Cpu)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nan.safetensors") && e.contains(&tensor) && e.contains("non-finite"),
        "{e}"
    );
    // The command line, resuming or exporting it: refused, nothing written.
    let out = dir.path().join("m.safetensors");
    let o = train_cmd(
        &ds,
        &out,
        &["--max-steps", "2", "--resume", ckpt.to_str().unwrap()],
    )
    .output()
    .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success(), "the NaN checkpoint resumed");
    assert!(
        err.contains("nan.safetensors") && err.contains(&tensor),
        "{err}"
    );
    assert!(!out.exists());
    let exported = dir.path().join("exported.safetensors");
    let o = Command::new(bin("host-train"))
        .arg("export")
        .arg(&ckpt)
        .arg(&exported)
        .output()
        .unwrap();
    assert!(
        !o.status.success() && stderr(&o).contains(&tensor),
        "{}",
        stderr(&o)
    );
    assert!(!exported.exists());
}

#[test]
fn diverged_weights_are_not_saved_over_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(dir.path());
    let path = dir.path().join("checkpoint.safetensors");
    let model = Trainable::new(&opts.net, &Device::Cpu, 1).unwrap();
    let adam = Adam::new(model.named_vars(), AdamConfig::default()).unwrap();
    let state = |step| CheckpointState {
        step,
        options: opts.clone(),
        init: None,
        seconds: 1.0,
    };
    checkpoint::save(&path, &model, &adam, &state(1)).unwrap();
    let good = std::fs::read(&path).unwrap();
    let (name, var) = model.named_vars().into_iter().next().unwrap();
    let inf = (var.as_tensor().ones_like().unwrap() * f64::INFINITY).unwrap();
    var.set(&inf).unwrap();
    let e = checkpoint::save(&path, &model, &adam, &state(2))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("diverged by step 2") && e.contains(&name) && e.contains("not written"),
        "{e}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), good);
}

#[test]
fn a_bad_out_fails_before_training_starts() {
    let dir = tempfile::tempdir().unwrap();
    let ds = photos(dir.path());
    // VGG weights that do not exist: a run that got as far as training would say so
    // instead, so these errors prove the outputs are checked first.
    let no_vgg = ["--vgg", "/nonexistent/vgg.safetensors", "--max-steps", "1"];
    let folder = dir.path().join("m.safetensors");
    std::fs::create_dir(&folder).unwrap();
    let o = train_cmd(&ds, &folder, &no_vgg).output().unwrap();
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("m.safetensors") && err.contains("is a folder"),
        "{err}"
    );
    assert!(!dir.path().join("m.run").exists());
    // A folder to be.
    let o = train_cmd(
        &ds,
        Path::new(&format!("{}/new/", dir.path().display())),
        &no_vgg,
    )
    .output()
    .unwrap();
    assert!(
        !o.status.success() && stderr(&o).contains("is a folder"),
        "{}",
        stderr(&o)
    );

    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let o = train_cmd(&ds, &file.join("m.safetensors"), &no_vgg)
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("cannot create") && err.contains("a-file"),
        "{err}"
    );
}

#[test]
fn zero_steps_and_nonsense_values_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let ds = photos(dir.path());
    let out = dir.path().join("m.safetensors");
    std::fs::write(&out, b"a trained model").unwrap();
    for args in [
        &["--max-steps", "0"][..],
        &["--epochs", "0"],
        &["--lr=-1"],
        &["--lr", "NaN"],
        &["--style-weight=-5"],
        &["--batch-size", "30000"],
        &["--image-size", "100000"],
        &["--style-size", "100000"],
    ] {
        let o = train_cmd(&ds, &out, args).output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("invalid value") && err.contains(args[0].split('=').next().unwrap()),
            "{args:?}: {err}"
        );
        assert_eq!(std::fs::read(&out).unwrap(), b"a trained model");
    }
    assert!(!dir.path().join("m.run").exists());
}

#[test]
fn a_style_image_too_small_for_vgg_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let ds = photos(dir.path());
    let wide = dir.path().join("wide.png");
    image::RgbImage::from_pixel(400, 20, image::Rgb([200, 40, 40]))
        .save(&wide)
        .unwrap();
    let o = train_cmd(
        &ds,
        &dir.path().join("m.safetensors"),
        &[
            "--max-steps",
            "1",
            "--style",
            wide.to_str().unwrap(),
            "--style-size",
            "128",
        ],
    )
    .output()
    .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("wide.png") && err.contains("128x6 after --style-size 128"),
        "{err}"
    );
}

/// Runs `cmd` to its end; its exit code and peak resident memory in bytes.
fn run_measuring_memory(cmd: &mut Command) -> (i32, u64) {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid, and wait4 reaps only our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(r, child.id() as i32, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    (code, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_16384x2_photo_does_not_blow_training_memory() {
    let dir = tempfile::tempdir().unwrap();
    let ds = photos(dir.path());
    let strip = dir.path().join("strip");
    std::fs::create_dir(&strip).unwrap();
    image::RgbImage::from_fn(16384, 2, |x, _| image::Rgb([(x % 256) as u8, 90, 30]))
        .save(strip.join("strip.png"))
        .unwrap();
    // One step at 256 px on the strip alone, against the same on ordinary photos. Resized
    // before cropping, the strip's short side of 256 px would make it two million pixels
    // wide (1.6 GB).
    let peak = |dataset: &Path, name: &str| {
        let (code, peak) = run_measuring_memory(&mut train_cmd(
            dataset,
            &dir.path().join(name),
            &["--image-size", "256", "--max-steps", "1"],
        ));
        assert_eq!(code, 0, "training on {}", dataset.display());
        peak
    };
    let photos_peak = peak(&ds, "photos.safetensors");
    let strip_peak = peak(&strip, "strip.safetensors");
    assert!(
        strip_peak < photos_peak + (400 << 20),
        "peak memory {} MB on the strip, {} MB on photos",
        strip_peak >> 20,
        photos_peak >> 20
    );
}
