//! host-train: train a style on a workstation, convert and export models.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use clap::{Args, Parser, Subcommand};
use host_train::loss::LossConfig;
use host_train::stability::StabilityConfig;
use host_train::train::{train, Outcome, TrainOptions};
use host_train::vgg::VggLayer;
use stylecast::{ModelFile, NetConfig};

#[derive(Parser)]
#[command(
    name = "host-train",
    version,
    about = "Train fast style-transfer models (Johnson et al. 2016) and convert them",
    long_about = "Train a style from any painting and a folder of photos against VGG-16 perceptual losses, \
then copy the small f16 model to a device running edge-runtime.\n\n\
Example:\n  host-train train --style ../shared/data/styles/starry_night.jpg \\\n      --dataset ../shared/data/content/train --out models/starry_night.safetensors\n\n\
This writes models/starry_night.safetensors (f32), models/starry_night.f16.safetensors (for devices) \
and models/starry_night.run/ (checkpoint, losses.jsonl, previews, loss_curve.png). \
Ctrl-C saves a checkpoint; continue with the same command plus --resume models/starry_night.run/checkpoint.safetensors."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a style (CPU or CUDA), checkpointing as it goes.
    Train(Box<TrainArgs>),
    /// Convert a pytorch/examples fast_neural_style state dict (.pth) to a stylecast model.
    ImportTorch {
        /// The .pth file (torch.save(model.state_dict()), zip format).
        input: PathBuf,
        /// The .safetensors model to write.
        output: PathBuf,
        /// Style name stored in the model's metadata.
        #[arg(long)]
        name: String,
        /// Write f16 weights (half the size) instead of f32.
        #[arg(long)]
        f16: bool,
    },
    /// Time training steps (ms/step) on random data: no dataset needed, only VGG weights.
    Bench(host_train::bench::BenchOptions),
    /// Score models on photos they did not train on with the training losses: how far each
    /// output is from the photo (content) and from its painting (style). For choosing a
    /// --style-weight: e.g. `host-train eval models/ --photos ../shared/data/content/test
    /// --styles ../shared/data/styles`.
    Eval(host_train::eval::EvalOptions),
    /// Check a device (e.g. cuda) against the CPU on one training step: losses, every
    /// gradient, the output. Exits non-zero if anything differs by more than 1e-3.
    CheckDevice {
        #[arg(long, default_value = "cuda")]
        device: String,
        #[arg(long)]
        vgg: Option<PathBuf>,
    },
    /// Re-save a model, e.g. as an f16 copy for devices, or turn a training checkpoint into a
    /// model (a run's current state, without finishing it).
    Export {
        /// The model, or a training checkpoint (NAME.run/checkpoint.safetensors), to read.
        input: PathBuf,
        /// The model to write.
        output: PathBuf,
        /// Store f16 weights (about 3.4 MB for the default network).
        #[arg(long, conflicts_with = "f32")]
        f16: bool,
        /// Store f32 weights.
        #[arg(long)]
        f32: bool,
    },
    /// Draw the loss curves of a run, finished or still going: one panel per loss, per-step
    /// values faint, a moving median bold, each on its own (linear or log) scale. E.g.
    /// `host-train plot models/starry_night.run`.
    Plot {
        /// The run folder (NAME.run/) or its losses.jsonl.
        input: PathBuf,
        /// The PNG to write [default: loss_curve.png beside the log].
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Args)]
struct TrainArgs {
    /// The style image (a painting).
    #[arg(long)]
    style: PathBuf,
    /// Folder of content photos, searched recursively (jpg, png, webp); COCO train2014 works as-is.
    #[arg(long)]
    dataset: PathBuf,
    /// The f32 model to write; the f16 copy goes beside it as NAME.f16.safetensors.
    #[arg(long)]
    out: PathBuf,
    /// Style name for the metadata [default: the style image's file name].
    #[arg(long)]
    name: Option<String>,
    /// Passes over the dataset.
    #[arg(long, default_value_t = 2)]
    epochs: u64,
    /// Stop after this many steps, even mid-epoch.
    #[arg(long)]
    max_steps: Option<u64>,
    #[arg(long, default_value_t = 4)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Training crops are this many pixels square (short side resized to it, then cropped).
    #[arg(long, default_value_t = 256)]
    image_size: u32,
    /// Scale the style image so its longer side is this many pixels [default: as is].
    /// With --init, this and the loss options below default to the model's own training
    /// settings (its metadata), so a style continues with the balance it was tuned to.
    #[arg(long)]
    style_size: Option<u32>,
    /// [default: 1e5]
    #[arg(long)]
    content_weight: Option<f64>,
    /// Raise for a stronger style, lower to keep more of the photo (`host-train eval`
    /// compares the results) [default: 1e10].
    #[arg(long)]
    style_weight: Option<f64>,
    /// Total-variation weight: smooths high-frequency artefacts [default: 1e-2].
    #[arg(long)]
    tv_weight: Option<f64>,
    /// VGG layer of the content loss (relu3_3 as in Johnson's code; relu2_2 as in the paper)
    /// [default: relu3_3].
    #[arg(long, value_enum)]
    content_layer: Option<VggLayer>,
    /// Style layers, comma-separated, each optionally with a weight: relu1_2:1,relu2_2:1,...
    /// [default: relu1_2,relu2_2,relu3_3,relu4_3].
    #[arg(long)]
    style_layers: Option<String>,
    /// Network width: the default 32/64/128 network, or "small" (16/32/64) for CPU real time
    /// [default: that of --init's model, else default].
    #[arg(long, value_parser = ["default", "small"])]
    net: Option<String>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// VGG-16 weights (torchvision layout, .safetensors or .pth) [default: $STYLECAST_VGG16,
    /// then ~/.local/share/stylecast/vgg16-features.safetensors, then ../shared/weights/].
    /// `hf` (or `hf:OWNER/NAME`) takes timm/vgg16.tv_in1k from the Hugging Face Hub, downloaded
    /// once into its cache (needs a build with `--features hf-hub`).
    #[arg(long)]
    vgg: Option<PathBuf>,
    #[arg(long, default_value_t = 500)]
    checkpoint_every: u64,
    /// Write a stylized preview every N steps (0: never).
    #[arg(long, default_value_t = 500)]
    preview_every: u64,
    /// Photo for the previews [default: the first training sample].
    #[arg(long)]
    preview_image: Option<PathBuf>,
    /// Continue from a checkpoint written by an earlier run with the same options.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Start from a model file's weights (f32 or f16) instead of fresh ones, e.g. to train a
    /// shipped style further (`--init models/starry_night.safetensors`) or to fine-tune one
    /// style towards another. Adam starts afresh; the metadata records the model and its steps.
    /// Pass another --seed than the model's run to see the photos in a new order.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Raise the learning rate linearly to --lr over the first N steps. Adam's first steps
    /// move every weight by about --lr at once, which jolts trained weights: with --init the
    /// style loss jumped 2.5-5x after one step and took 50-200 steps to recover
    /// [default: 100 with --init, else 0 (fresh weights, as in the paper); with --resume, the
    /// checkpoint's].
    #[arg(long)]
    warmup_steps: Option<u64>,
    /// Weight of the temporal-stability term: each batch also goes through the network
    /// shifted by 0-3 pixels and with camera-like noise, and the two outputs, aligned, are
    /// pulled together (mean squared difference, 0-255). Without it a style re-paints its
    /// strokes whenever the picture moves by a pixel (the network sees the image modulo 4),
    /// and live video swims; `host-train eval` reports this as flicker. Costs one more
    /// network pass per step (not VGG). See models/README.md for the values used
    /// [default: that of --init's model, else 0: off].
    #[arg(long)]
    stability_weight: Option<f64>,
    /// Largest shift of the stability copy, in pixels right and down (1-3 covers every
    /// phase of the network's 4-pixel grid).
    #[arg(long, default_value_t = 3)]
    stability_shift: usize,
    /// Standard deviation of the stability copy's Gaussian noise, in 0-255 levels.
    #[arg(long, default_value_t = 2.0)]
    stability_noise: f64,
    /// Finish (final model and all) at the first step after this many seconds. The run still
    /// ends at --epochs (default 2) or --max-steps if those come first: for a run bounded by
    /// time alone, add e.g. --epochs 1000.
    #[arg(long)]
    time_limit: Option<f64>,
    /// No progress bar (for logs and CI).
    #[arg(long)]
    quiet: bool,
}

fn parse_style_layers(s: &str) -> Result<Vec<(VggLayer, f64)>> {
    use clap::ValueEnum;
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (name, w) = p.split_once(':').unwrap_or((p, "1"));
            let layer = VggLayer::from_str(name.trim(), true).map_err(|_| {
                anyhow::anyhow!(
                    "unknown style layer {name:?} (use relu1_2, relu2_2, relu3_3, relu4_3)"
                )
            })?;
            let w: f64 = w
                .trim()
                .parse()
                .with_context(|| format!("bad weight in {p:?}"))?;
            Ok((layer, w))
        })
        .collect()
}

fn main() -> Result<()> {
    stylecast::tune_malloc();
    let cli = Cli::parse();
    match cli.command {
        Command::Train(a) => {
            let style_name = a.name.clone().unwrap_or_else(|| {
                a.style
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "style".into())
            });
            // The --init model's metadata: the defaults for its network and loss settings.
            let init_meta = match &a.init {
                Some(p) => Some(
                    ModelFile::load(p, &Device::Cpu)
                        .with_context(|| format!("--init {}", p.display()))?
                        .meta,
                ),
                None => None,
            };
            let init_training = init_meta.as_ref().and_then(|m| m.training.as_ref());
            let base = match LossConfig::recorded(init_training) {
                Some(l) => l.unwrap_or_else(|e| {
                    eprintln!(
                        "warning: --init's training.loss is unreadable ({e}); using the defaults"
                    );
                    LossConfig::default()
                }),
                None => LossConfig::default(),
            };
            let loss = LossConfig {
                content_weight: a.content_weight.unwrap_or(base.content_weight),
                style_weight: a.style_weight.unwrap_or(base.style_weight),
                tv_weight: a.tv_weight.unwrap_or(base.tv_weight),
                content_layer: a.content_layer.unwrap_or(base.content_layer),
                style_layers: match &a.style_layers {
                    Some(s) => parse_style_layers(s)?,
                    None => base.style_layers,
                },
            };
            let recorded_stability = init_training
                .and_then(|t| t.get("stability"))
                .and_then(|v| serde_json::from_value::<StabilityConfig>(v.clone()).ok());
            let stability = StabilityConfig {
                weight: a
                    .stability_weight
                    .or(recorded_stability.map(|s| s.weight))
                    .unwrap_or(0.0),
                max_shift: a.stability_shift,
                noise: a.stability_noise,
            };
            if !(stability.weight >= 0.0 && stability.noise >= 0.0) {
                bail!("--stability-weight and --stability-noise must be 0 or more");
            }
            // The compared region must survive the shift and both margins.
            if stability.weight > 0.0
                && stability.max_shift + 2 * host_train::stability::MARGIN >= a.image_size as usize
            {
                bail!(
                    "--stability-shift {} is too large for --image-size {}",
                    stability.max_shift,
                    a.image_size
                );
            }
            let style_size = a
                .style_size
                .or_else(|| host_train::train::recorded_style_size(init_training));
            if let (Some(p), Some(_)) = (&a.init, init_training) {
                eprintln!(
                    "--init {}: where not given, style size {} and losses from its training: \
                     content {:e} at {}, style {:e}, tv {:e}",
                    p.display(),
                    style_size.map_or("as is".to_string(), |s| s.to_string()),
                    loss.content_weight,
                    loss.content_layer.name(),
                    loss.style_weight,
                    loss.tv_weight
                );
                if a.stability_weight.is_none() && stability.weight > 0.0 {
                    eprintln!(
                        "--init {}: stability weight {:e} from its training",
                        p.display(),
                        stability.weight
                    );
                }
            }
            if a.init.is_some() && a.warmup_steps.is_none() && a.resume.is_none() {
                eprintln!(
                    "--init: the learning rate warms up over the first {} steps, sparing the \
                     trained weights Adam's first full-size steps (--warmup-steps 0 to skip)",
                    host_train::train::INIT_WARMUP_STEPS
                );
            }
            let opts = TrainOptions {
                style: a.style,
                style_name,
                dataset: a.dataset,
                out: a.out,
                epochs: a.epochs,
                max_steps: a.max_steps,
                batch_size: a.batch_size,
                lr: a.lr,
                image_size: a.image_size,
                style_size,
                loss,
                net: match (a.net.as_deref(), &init_meta) {
                    (Some("small"), _) => NetConfig::small(),
                    (Some(_), _) => NetConfig::default(),
                    (None, Some(m)) => m.config,
                    (None, None) => NetConfig::default(),
                },
                seed: a.seed,
                checkpoint_every: a.checkpoint_every,
                preview_every: a.preview_every,
                preview_image: a.preview_image,
                vgg: a.vgg,
                device: a.device,
                progress: !a.quiet,
                time_limit: a.time_limit,
                warmup_steps: a.warmup_steps,
                init: a.init,
                stability,
            };
            let stop = Arc::new(AtomicBool::new(false));
            let s = stop.clone();
            ctrlc::set_handler(move || {
                if s.swap(true, Ordering::SeqCst) {
                    std::process::exit(130); // second Ctrl-C: give up at once
                }
                eprintln!(
                    "\nstopping after this step; writing a checkpoint (Ctrl-C again to abort)"
                );
            })
            .context("installing the Ctrl-C handler")?;
            match train(&opts, a.resume.as_deref(), stop)? {
                Outcome::Finished {
                    steps,
                    last,
                    ended_by,
                } => {
                    println!(
                        "trained {steps} steps (ended by {ended_by}): wrote {} and {}",
                        opts.out.display(),
                        opts.f16_path().display()
                    );
                    if let Some(l) = last {
                        println!(
                            "final losses: content {:.4e}  style {:.4e}  tv {:.4e}",
                            l.content, l.style, l.tv
                        );
                    }
                    println!(
                        "previews, losses.jsonl and loss_curve.png in {}",
                        opts.run_dir().display()
                    );
                }
                Outcome::Interrupted { step, checkpoint } => {
                    println!(
                        "interrupted at step {step}; resume with the same command plus --resume {}",
                        checkpoint.display()
                    );
                    std::process::exit(130);
                }
            }
        }
        Command::ImportTorch {
            input,
            output,
            name,
            f16,
        } => {
            let m = ModelFile::import_pth(&input, &name)?;
            let m = if f16 { m.to_dtype(DType::F16)? } else { m };
            m.save(&output)?;
            println!(
                "imported {} -> {} ({:?}, {} tensors)",
                input.display(),
                output.display(),
                m.dtype(),
                m.tensors.len()
            );
        }
        Command::Bench(options) => host_train::bench::run(&options)?,
        Command::Eval(options) => host_train::eval::run(&options)?,
        Command::CheckDevice { device, vgg } => {
            let worst = host_train::bench::check_device(&device, vgg.as_deref())?;
            if worst > 1e-3 {
                anyhow::bail!("{device} differs from the CPU by {worst:.2e} (more than 1e-3)");
            }
            println!("{device} agrees with the CPU (worst relative difference {worst:.2e})");
        }
        Command::Export {
            input,
            output,
            f16,
            f32: _,
        } => {
            let m = if host_train::checkpoint::is_checkpoint(&input) {
                host_train::checkpoint::to_model(&input)?
            } else {
                ModelFile::load(&input, &Device::Cpu)?
            };
            let m = m.to_dtype(if f16 { DType::F16 } else { DType::F32 })?;
            m.save(&output)?;
            let size = std::fs::metadata(&output).map(|m| m.len()).unwrap_or(0);
            println!(
                "wrote {} ({:?}, {:.1} MB)",
                output.display(),
                m.dtype(),
                size as f64 / 1e6
            );
        }
        Command::Plot { input, output } => {
            let (written, records) = host_train::train::plot_log(&input, output.as_deref())?;
            println!("wrote {} ({records} steps)", written.display());
        }
    }
    Ok(())
}
