//! The training loop: data, losses, Adam, checkpoints, previews, logs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use stylecast::image_io::{
    image_to_tensor, load_rgb, resize_longer_side, save_png, tensor_to_image,
};
use stylecast::{ModelFile, ModelMeta, NetConfig};

use crate::adam::{Adam, AdamConfig};
use crate::checkpoint::{self, CheckpointState};
use crate::data::{Dataset, Prefetcher};
use crate::loss::{perceptual_losses, LossConfig, Losses, StyleTarget};
use crate::model::Trainable;
use crate::stability::{perturb, stability_loss, Shift, StabilityConfig};
use crate::vgg::{resolve_weights, Vgg16};

/// Everything that determines a run. Stored in checkpoints; a resume must match it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub style: PathBuf,
    pub style_name: String,
    pub dataset: PathBuf,
    pub out: PathBuf,
    pub epochs: u64,
    pub max_steps: Option<u64>,
    pub batch_size: usize,
    pub lr: f64,
    pub image_size: u32,
    pub style_size: Option<u32>,
    pub loss: LossConfig,
    pub net: NetConfig,
    pub seed: u64,
    pub checkpoint_every: u64,
    pub preview_every: u64,
    pub preview_image: Option<PathBuf>,
    pub vgg: Option<PathBuf>,
    pub device: String,
    pub progress: bool,
    /// Stop at the first step boundary after this many seconds and finish normally
    /// (final model, f16 copy, previews): for fixed time budgets on shared machines.
    #[serde(default)]
    pub time_limit: Option<f64>,
    /// Start from this model's weights instead of fresh ones: to continue a short run
    /// (a shipped style, a run whose checkpoint is gone) or to fine-tune one style
    /// towards another. Adam starts afresh; a resume takes everything from its checkpoint.
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// Raise the learning rate linearly from lr/N to lr over the first N steps. Adam's
    /// first updates move every weight by about lr whatever its gradient (m/sqrt(v) is
    /// +-1 at t=1), harmless for fresh weights but a shock for trained ones: continuing a
    /// model with --init and no warmup, its style loss jumped 2.5-5x after step 1 and
    /// took 50-200 steps to come back. None: the default, 100 with --init and 0 without;
    /// on a resume, the checkpoint's value. Checkpoints from before warmup existed read as 0.
    #[serde(default = "no_warmup")]
    pub warmup_steps: Option<u64>,
    /// The temporal-stability term (`stability.rs`); weight 0, the default, leaves it out.
    #[serde(default)]
    pub stability: StabilityConfig,
}

fn no_warmup() -> Option<u64> {
    Some(0)
}

/// Separates the stability term's random stream from the data's (seed, epoch, position).
const STABILITY_STREAM: u64 = 0x5354_4142_494c_4954;

/// Warmup steps when continuing a model with --init and not told otherwise.
pub const INIT_WARMUP_STEPS: u64 = 100;

impl TrainOptions {
    /// The files a run writes besides the model: `<out stem>.run/`.
    pub fn run_dir(&self) -> PathBuf {
        let stem = self
            .out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        self.out.with_file_name(format!("{stem}.run"))
    }
    pub fn checkpoint_path(&self) -> PathBuf {
        self.run_dir().join("checkpoint.safetensors")
    }
    /// `NAME.safetensors` -> `NAME.f16.safetensors`.
    pub fn f16_path(&self) -> PathBuf {
        let stem = self
            .out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        self.out.with_file_name(format!("{stem}.f16.safetensors"))
    }

    /// Fields that must agree for a resume to continue the same run exactly.
    fn resume_mismatches(&self, other: &TrainOptions) -> Vec<&'static str> {
        let mut v = Vec::new();
        macro_rules! cmp {
            ($($f:ident),*) => { $( if self.$f != other.$f { v.push(stringify!($f)); } )* };
        }
        cmp!(
            style,
            dataset,
            batch_size,
            lr,
            image_size,
            style_size,
            loss,
            net,
            seed,
            init,
            warmup_steps,
            stability
        );
        v
    }
}

/// One step's loss values, as logged.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LossRecord {
    pub step: u64,
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    pub total: f64,
    pub images_per_sec: f64,
    /// The weighted stability term (0 when it is off, and in logs from before it existed).
    #[serde(default)]
    pub stability: f64,
}

/// Which limit ended a finished run: whichever of `--epochs`, `--max-steps` and
/// `--time-limit` comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    Epochs,
    MaxSteps,
    TimeLimit,
}

impl std::fmt::Display for EndedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EndedBy::Epochs => "--epochs",
            EndedBy::MaxSteps => "--max-steps",
            EndedBy::TimeLimit => "--time-limit",
        })
    }
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    Finished {
        steps: u64,
        last: Option<LossRecord>,
        ended_by: EndedBy,
    },
    Interrupted {
        step: u64,
        checkpoint: PathBuf,
    },
}

/// Network output and perceptual losses for one content batch.
pub fn compute_losses(
    model: &Trainable,
    vgg: &Vgg16,
    cfg: &LossConfig,
    style: &StyleTarget,
    x: &Tensor,
) -> Result<Losses> {
    let y = model.net.forward_raw(x)?;
    Ok(perceptual_losses(vgg, cfg, style, x, &y)?)
}

/// One step's losses with the stability term: the batch and its shifted, noisy copy go
/// through the network together (instance norm is per image, so this is the same as two
/// passes), the perceptual losses see the batch's half, and `total` adds the weighted
/// difference of the two halves, aligned. Returns the losses and the unweighted term.
pub fn compute_losses_with_stability(
    model: &Trainable,
    vgg: &Vgg16,
    cfg: &LossConfig,
    style: &StyleTarget,
    x: &Tensor,
    stab: &StabilityConfig,
    seed: u64,
) -> Result<(Losses, Tensor)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shift = Shift::draw(&mut rng, stab.max_shift);
    let x2 = perturb(x, shift, stab.noise, rng.gen())?;
    let n = x.dim(0)?;
    let both = model.net.forward_raw(&Tensor::cat(&[x, &x2], 0)?)?;
    let (y, y2) = (both.narrow(0, 0, n)?, both.narrow(0, n, n)?);
    let mut losses = perceptual_losses(vgg, cfg, style, x, &y)?;
    let term = stability_loss(&y, &y2, shift)?;
    losses.total = (&losses.total + (&term * stab.weight)?)?;
    Ok((losses, term))
}

pub(crate) fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// The style size a model's metadata records (`training.style_size`; `None`: as is, or
/// not recorded).
pub fn recorded_style_size(training: Option<&serde_json::Value>) -> Option<u32> {
    training
        .and_then(|t| t.get("style_size"))
        .and_then(|v| v.as_u64())
        .map(|s| s as u32)
}

/// Loads the style image, scaled so its longer side is `style_size` if given.
pub fn load_style(
    path: &Path,
    style_size: Option<u32>,
    device: &Device,
) -> Result<(Tensor, String)> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: cannot read style image", path.display()))?;
    let hash = hex(&sha2::Sha256::digest(&bytes));
    let mut img = stylecast::image_io::decode_rgb(&bytes, path)?;
    if let Some(s) = style_size {
        img = resize_longer_side(&img, s);
    }
    Ok((image_to_tensor(&img, device, DType::F32)?, hash))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Runs (or resumes) training until done, interrupted (`stop`), or failed.
pub fn train(opts: &TrainOptions, resume: Option<&Path>, stop: Arc<AtomicBool>) -> Result<Outcome> {
    let device = stylecast::parse_device(&opts.device)?;
    let resumed = match resume {
        Some(ckpt) => Some((ckpt, checkpoint::load(ckpt, &device)?)),
        None => None,
    };
    // Settle the warmup default once, so checkpoints and metadata hold the number used.
    let mut opts = opts.clone();
    opts.warmup_steps = Some(match (opts.warmup_steps, &resumed) {
        (Some(n), _) => n,
        (None, Some((_, l))) => l.state.options.warmup_steps.unwrap_or(0),
        (None, None) if opts.init.is_some() => INIT_WARMUP_STEPS,
        (None, None) => 0,
    });
    let opts = &opts;
    if opts.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let vgg_path = resolve_weights(opts.vgg.as_deref())?;
    let vgg = Vgg16::load(&vgg_path, &device)?;
    let (style_img, style_hash) = load_style(&opts.style, opts.style_size, &device)?;
    let target = StyleTarget::new(&vgg, &style_img, &opts.loss)?;
    let ds = Arc::new(Dataset::scan(&opts.dataset, opts.image_size, opts.seed)?);

    let model = Trainable::new(&opts.net, &device, opts.seed)?;
    let mut adam = Adam::new(
        model.named_vars(),
        AdamConfig {
            lr: opts.lr,
            ..Default::default()
        },
    )?;
    let mut start = 0u64;
    // Where the weights started, for the model's metadata (carried through resumes).
    let mut init: Option<serde_json::Value> = None;
    // Seconds spent before this process (resumed runs), so the metadata counts the whole run.
    let mut prior_seconds = 0.0;
    if let Some((ckpt, loaded)) = resumed {
        let diff = opts.resume_mismatches(&loaded.state.options);
        if !diff.is_empty() {
            bail!(
                "{}: this checkpoint was made with different {}; resume with the same options (saved: {})",
                ckpt.display(),
                diff.join(", "),
                serde_json::to_string(&loaded.state.options)?
            );
        }
        model
            .load_weights(&loaded.params)
            .with_context(|| format!("{}: checkpoint weights", ckpt.display()))?;
        for (name, slot) in adam.slots.iter_mut() {
            let (Some(m), Some(v)) = (loaded.m.get(name), loaded.v.get(name)) else {
                bail!("{}: checkpoint lacks Adam state for {name}", ckpt.display());
            };
            slot.m = m.clone();
            slot.v = v.clone();
        }
        adam.t = loaded.adam_t;
        start = loaded.state.step;
        init = loaded.state.init;
        prior_seconds = loaded.state.seconds;
    } else if let Some(path) = &opts.init {
        init = Some(init_from_model(&model, path, &opts.net)?);
    }

    let steps_per_epoch = (ds.len() / opts.batch_size).max(1) as u64;
    let mut total = opts.epochs * steps_per_epoch;
    let mut ended_by = EndedBy::Epochs;
    if let Some(m) = opts.max_steps.filter(|&m| m < total) {
        total = m;
        ended_by = EndedBy::MaxSteps;
    }
    let run_dir = opts.run_dir();
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let ckpt_path = opts.checkpoint_path();
    let log_path = run_dir.join("losses.jsonl");
    let mut history = if start > 0 {
        read_log(&log_path, start)
    } else {
        Vec::new()
    };
    let mut log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    for r in &history {
        writeln!(log, "{}", serde_json::to_string(r)?)?;
    }
    let preview_src = match &opts.preview_image {
        Some(p) => load_rgb(p)?,
        None => ds.sample(0, &|e| Arc::new(ds.epoch_order(e)))?,
    };
    // Previews at a modest size: they cost a forward pass each.
    let preview_src = if preview_src.width().max(preview_src.height()) > 384 {
        resize_longer_side(&preview_src, 384)
    } else {
        preview_src
    };
    let preview_x = image_to_tensor(&preview_src, &device, DType::F32)?;

    let pb = progress_bar(total, start, opts.progress);
    // Said up front: a run that ends at the default 2 epochs long before its --time-limit
    // otherwise looks like a run that stopped early.
    say(
        &pb,
        format!(
            "steps {}..{total}: {} epochs of {steps_per_epoch} steps ({} photos, batch {}){}{}",
            start + 1,
            opts.epochs,
            ds.len(),
            opts.batch_size,
            match ended_by {
                EndedBy::MaxSteps => format!(", stopping at --max-steps {total}"),
                _ => String::new(),
            },
            opts.time_limit
                .map(|l| format!(", or after --time-limit {l} s"))
                .unwrap_or_default(),
        ),
    );
    let pf = Prefetcher::start(ds.clone(), opts.batch_size, start, total, 4);
    let mut last = None;
    let mut t_last = Instant::now();
    let t0 = Instant::now();
    for step in start..total {
        let (s, x) = pf.next()?;
        debug_assert_eq!(s, step);
        let x = x.to_device(&device)?;
        let (losses, stability) = if opts.stability.weight > 0.0 {
            let seed = crate::data::mix(opts.seed, step, STABILITY_STREAM);
            let (l, t) = compute_losses_with_stability(
                &model,
                &vgg,
                &opts.loss,
                &target,
                &x,
                &opts.stability,
                seed,
            )?;
            (l, Some(t))
        } else {
            (compute_losses(&model, &vgg, &opts.loss, &target, &x)?, None)
        };
        let total_loss = scalar(&losses.total)?;
        if !total_loss.is_finite() {
            pb.abandon();
            bail!(
                "loss became {total_loss} at step {}: training diverged (try a lower --lr or --style-weight). \
                 The last good checkpoint is {}",
                step + 1,
                if ckpt_path.exists() { ckpt_path.display().to_string() } else { "none (no checkpoint written yet)".into() }
            );
        }
        let grads = losses.total.backward()?;
        adam.cfg.lr = warmup_lr(opts.lr, opts.warmup_steps.unwrap_or(0), step);
        adam.step(&grads)?;
        let now = Instant::now();
        let rec = LossRecord {
            step: step + 1,
            content: scalar(&losses.content)? * opts.loss.content_weight,
            style: scalar(&losses.style)? * opts.loss.style_weight,
            tv: scalar(&losses.tv)? * opts.loss.tv_weight,
            stability: match &stability {
                Some(t) => scalar(t)? * opts.stability.weight,
                None => 0.0,
            },
            total: total_loss,
            images_per_sec: opts.batch_size as f64
                / now.duration_since(t_last).as_secs_f64().max(1e-9),
        };
        t_last = now;
        writeln!(log, "{}", serde_json::to_string(&rec)?)?;
        history.push(rec);
        last = Some(rec);
        pb.set_position(step + 1);
        pb.set_message(format!(
            "{:.1} img/s  content {:.3e}  style {:.3e}  tv {:.3e}{}",
            rec.images_per_sec,
            rec.content,
            rec.style,
            rec.tv,
            if stability.is_some() {
                format!("  stability {:.3e}", rec.stability)
            } else {
                String::new()
            }
        ));
        let done = step + 1;
        let stopping = stop.load(Ordering::SeqCst);
        if done % opts.checkpoint_every.max(1) == 0 || stopping {
            checkpoint::save(
                &ckpt_path,
                &model,
                &adam,
                &CheckpointState {
                    step: done,
                    options: opts.clone(),
                    init: init.clone(),
                    seconds: prior_seconds + t0.elapsed().as_secs_f64(),
                },
            )?;
        }
        if opts.preview_every > 0 && done % opts.preview_every == 0 {
            let y = candle_core::Module::forward(&model.net, &preview_x)?;
            save_png(
                &tensor_to_image(&y)?,
                &run_dir.join(format!("preview-{done:06}.png")),
            )?;
            // The curve so far, so a long run can be watched, not only read at the end.
            save_loss_curve(&history, &run_dir.join("loss_curve.png"))?;
        }
        if opts
            .time_limit
            .is_some_and(|l| t0.elapsed().as_secs_f64() >= l)
            && done < total
        {
            say(&pb, format!("time limit reached at step {done}; finishing"));
            ended_by = EndedBy::TimeLimit;
            total = done;
            break;
        }
        if stopping && done < total {
            pb.abandon_with_message(format!("interrupted at step {done}; checkpoint saved"));
            return Ok(Outcome::Interrupted {
                step: done,
                checkpoint: ckpt_path,
            });
        }
    }
    pb.finish();
    checkpoint::save(
        &ckpt_path,
        &model,
        &adam,
        &CheckpointState {
            step: total,
            options: opts.clone(),
            init: init.clone(),
            seconds: prior_seconds + t0.elapsed().as_secs_f64(),
        },
    )?;
    let mut training = run_metadata(opts, total, init.as_ref());
    if let serde_json::Value::Object(end) = serde_json::json!({
        "style_sha256": style_hash,
        "dataset_images": ds.len(),
        "skipped_images": ds.skipped_count.load(Ordering::Relaxed),
        "final": last,
        "vgg": vgg_path.file_name().map(|n| n.to_string_lossy().into_owned()),
        "seconds": prior_seconds + t0.elapsed().as_secs_f64(),
    }) {
        training.extend(end);
    }
    let mut meta = ModelMeta::new(&opts.style_name, opts.net);
    meta.training = Some(training.into());
    let mf = ModelFile {
        meta,
        tensors: model.weights(),
    };
    mf.save(&opts.out)?;
    mf.to_dtype(DType::F16)?.save(&opts.f16_path())?;
    let y = candle_core::Module::forward(&model.net, &preview_x)?;
    save_png(&tensor_to_image(&y)?, &run_dir.join("preview-final.png"))?;
    if !history.is_empty() {
        save_loss_curve(&history, &run_dir.join("loss_curve.png"))?;
    }
    Ok(Outcome::Finished {
        steps: total,
        last,
        ended_by,
    })
}

/// What a model's `training` metadata says of the run that made it after `steps` steps:
/// the options that shaped it and where its weights started (the end of a run adds the
/// style image's hash, the final losses and timings).
pub fn run_metadata(
    opts: &TrainOptions,
    steps: u64,
    init: Option<&serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    let prior_steps = init
        .and_then(|i| i.get("steps"))
        .and_then(|s| s.as_u64())
        .unwrap_or(0);
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let v = serde_json::json!({
        "steps": steps,
        // Steps including those of the --init model (equal to `steps` without one).
        "total_steps": prior_steps + steps,
        "init": init,
        "batch_size": opts.batch_size,
        "image_size": opts.image_size,
        "style_size": opts.style_size,
        "lr": opts.lr,
        "warmup_steps": opts.warmup_steps.unwrap_or(0),
        "stability": opts.stability,
        "seed": opts.seed,
        "style_image": name(&opts.style),
        "dataset": name(&opts.dataset),
        "loss": opts.loss,
        "device": opts.device,
    });
    match v {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("a json! object literal"),
    }
}

/// Loads `path`'s weights into `model` (f32 or f16 files; a network shape other than
/// `net` is an error) and describes it for the metadata: file, style, prior steps, and
/// its own training record, so a model trained in stages keeps the history of each.
fn init_from_model(model: &Trainable, path: &Path, net: &NetConfig) -> Result<serde_json::Value> {
    let mf = ModelFile::load(path, &Device::Cpu)
        .with_context(|| format!("--init {}", path.display()))?;
    if mf.meta.config != *net {
        bail!(
            "--init {}: this model's network has channels {:?} and {} residual blocks, the run \
             trains channels {:?} and {} blocks; leave --net out to take the model's",
            path.display(),
            mf.meta.config.channels,
            mf.meta.config.residual_blocks,
            net.channels,
            net.residual_blocks
        );
    }
    model
        .load_weights(&mf.tensors)
        .with_context(|| format!("--init {}", path.display()))?;
    let training = mf.meta.training.as_ref();
    let prior = training
        .and_then(|t| t.get("total_steps").or_else(|| t.get("steps")))
        .and_then(|s| s.as_u64())
        .unwrap_or(0);
    Ok(serde_json::json!({
        "file": path.file_name().map(|n| n.to_string_lossy().into_owned()),
        "style": mf.meta.style,
        "steps": prior,
        "dtype": format!("{:?}", mf.dtype()).to_lowercase(),
        // The model's own training record (and so, nested, every earlier stage's).
        "training": mf.meta.training,
    }))
}

fn read_log(path: &Path, upto: u64) -> Vec<LossRecord> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<LossRecord>(l).ok())
        .filter(|r| r.step <= upto)
        .collect()
}

/// A line above the progress bar, or on stdout when the bar is hidden (a hidden bar's
/// `println` prints nothing).
fn say(pb: &indicatif::ProgressBar, msg: String) {
    if pb.is_hidden() {
        println!("{msg}");
    } else {
        pb.println(msg);
    }
}

fn progress_bar(total: u64, start: u64, visible: bool) -> indicatif::ProgressBar {
    let pb = if visible {
        indicatif::ProgressBar::new(total)
    } else {
        indicatif::ProgressBar::hidden()
    };
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] step {pos}/{len} ETA {eta}  {msg}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    pb.set_position(start);
    pb.reset_eta();
    pb
}

/// Writes the loss curve to `path` through a temporary file beside it, so an image viewer
/// refreshing it mid-run never reads half a picture.
fn save_loss_curve(history: &[LossRecord], path: &Path) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    crate::plot::loss_curve(history)
        .save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The learning rate of 0-based `step`: linear warmup over the first `warmup` steps.
pub fn warmup_lr(lr: f64, warmup: u64, step: u64) -> f64 {
    if step < warmup {
        lr * (step + 1) as f64 / warmup as f64
    } else {
        lr
    }
}

/// `host-train plot`: reads a run's `losses.jsonl` (or the run folder holding it) and
/// draws its loss curve, by default beside it. Returns the PNG written and the number of
/// steps plotted. Unparseable lines are an error: the log is ours, so one means damage.
pub fn plot_log(input: &Path, output: Option<&Path>) -> Result<(PathBuf, usize)> {
    let log = if input.is_dir() {
        input.join("losses.jsonl")
    } else {
        input.to_path_buf()
    };
    let text =
        std::fs::read_to_string(&log).with_context(|| format!("reading {}", log.display()))?;
    let mut history = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let r: LossRecord = serde_json::from_str(line).with_context(|| {
            format!(
                "{} line {}: not a loss record (a training log, losses.jsonl, was expected)",
                log.display(),
                n + 1
            )
        })?;
        history.push(r);
    }
    if history.is_empty() {
        bail!("{}: no loss records yet", log.display());
    }
    let dir = log.parent().unwrap_or(Path::new("."));
    let out = match output {
        Some(o) => o.to_path_buf(),
        None => dir.join("loss_curve.png"),
    };
    save_loss_curve(&history, &out)?;
    Ok((out, history.len()))
}
