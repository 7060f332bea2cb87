//! The command line: every clap type of `host-train`, and the resolution of its flags
//! into the library's plain option structs (`TrainArgs::resolve` for training: the
//! `--init` model's recorded settings as defaults, `--resume`, the checks).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use candle_core::Device;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};
use host_train::bench::BenchOptions;
use host_train::eval::EvalOptions;
use host_train::eval_video::{EvalCommand, VideoEvalOptions};
use host_train::loss::LossConfig;
use host_train::options::{style_stem, TrainOptions, INIT_WARMUP_STEPS};
use host_train::stability::{self, StabilityConfig};
use host_train::vgg::VggLayer;
use host_train::weights::{recorded_loss, recorded_stability, recorded_style_size};
use stylecast::{ModelFile, ModelMeta, NetConfig};

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
Ctrl-C (or SIGTERM, SIGHUP) saves a checkpoint; continue with the same command plus --resume models/starry_night.run/checkpoint.safetensors. \
Rerunning without --resume is refused once NAME.run/ holds a checkpoint: --overwrite moves that run aside to NAME.run.old-N."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train a style (CPU or CUDA), checkpointing as it goes.
    Train(Box<TrainArgs>),
    /// Add a style to a trained model by training only its instance norms' scales and shifts
    /// (Dumoulin et al. 2017): every convolution and every existing style stays bit for bit
    /// as it is, and no gradient is computed for them, so a step costs less than a training
    /// step (VGG's passes, which both need, are the most of either). Writes the base's styles plus the new one
    /// (a multi-style model, f32 and f16). E.g. `host-train add-style models/starry_night.safetensors
    /// --style ../shared/data/styles/the_scream.jpg --dataset ../shared/data/content/train
    /// --out models/two.safetensors`.
    AddStyle(Box<AddStyleArgs>),
    /// Convert a pytorch/examples fast_neural_style state dict (.pth) to a stylecast model.
    ImportTorch(ImportTorchArgs),
    /// Time training steps (ms/step) on random data: no dataset needed, only VGG weights.
    Bench(BenchArgs),
    /// Score models on photos they did not train on with the training losses: how far each
    /// output is from the photo (content) and from its painting (style). For choosing a
    /// --style-weight: e.g. `host-train eval models/ --photos ../shared/data/content/test
    /// --styles ../shared/data/styles`. With --video CLIP, also how much each flickers on
    /// footage (warping error on optical flow), e.g. `host-train eval models/ --video clip.mp4`.
    Eval(EvalArgs),
    /// Check a device (e.g. cuda) against the CPU on one training step: losses, every
    /// gradient, the output. Exits non-zero if anything differs by more than 1e-3.
    CheckDevice(CheckDeviceArgs),
    /// Re-save a model, e.g. as an f16 copy for devices, or turn a training checkpoint into a
    /// model (a run's current state, without finishing it); with --onnx, write an ONNX file
    /// for onnxruntime, OpenCV or TensorRT (docs/onnx.md), e.g. `host-train export --onnx
    /// models/starry_night.safetensors starry_night.onnx --with-border-pad`.
    Export(ExportArgs),
    /// Read the weights of a pytorch/examples fast_neural_style ONNX file (`neural_style eval
    /// --export_onnx`) or of one `export --onnx` wrote, into a stylecast model, e.g.
    /// `host-train import-onnx candy.onnx models/candy.safetensors --style candy`.
    ImportOnnx(ImportOnnxArgs),
    /// Draw the loss curves of a run, finished or still going: one panel per loss, per-step
    /// values faint, a moving median bold, each on its own (linear or log) scale. E.g.
    /// `host-train plot models/starry_night.run`.
    Plot(PlotArgs),
}

// The subcommands' help texts are the variants' doc comments above; the structs' own
// comments are plain, so clap does not take them instead.

#[derive(Args, Debug)]
pub struct ImportTorchArgs {
    /// The .pth file (torch.save(model.state_dict()), zip format).
    pub input: PathBuf,
    /// The .safetensors model to write.
    pub output: PathBuf,
    /// Style name stored in the model's metadata.
    #[arg(long)]
    pub name: String,
    /// Write f16 weights (half the size) instead of f32.
    #[arg(long)]
    pub f16: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Images per step (1-64).
    #[arg(long, default_value_t = 4, value_parser = usize_in(1, MAX_BATCH))]
    batch_size: usize,
    /// Square images of this many pixels (16-1024).
    #[arg(long, default_value_t = 256, value_parser = usize_in(MIN_IMAGE_SIZE as usize, MAX_IMAGE_SIZE as usize))]
    image_size: usize,
    /// Timed steps (1-10000).
    #[arg(long, default_value_t = 5, value_parser = usize_in(1, 10_000))]
    steps: usize,
    /// Untimed steps first (allocation, CUDA JIT and autotuning; 0-1000).
    #[arg(long, default_value_t = 1, value_parser = usize_in(0, 1000))]
    warmup: usize,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// VGG-16 weights, as for `train` (a path, or hf).
    #[arg(long)]
    vgg: Option<PathBuf>,
    /// Also print a per-phase breakdown (forward, losses, backward, Adam).
    #[arg(long)]
    breakdown: bool,
}

impl From<BenchArgs> for BenchOptions {
    fn from(a: BenchArgs) -> Self {
        Self {
            batch_size: a.batch_size,
            image_size: a.image_size,
            steps: a.steps,
            warmup: a.warmup,
            device: a.device,
            vgg: a.vgg,
            breakdown: a.breakdown,
        }
    }
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Model files (.safetensors, f32 or f16), or folders of them.
    #[arg(required = true)]
    models: Vec<PathBuf>,
    /// Photos to score on, searched recursively: ones the models did not train on,
    /// e.g. ../shared/data/content/test. Needs --styles; optional with --video.
    #[arg(long, required_unless_present = "videos", requires = "styles")]
    photos: Option<PathBuf>,
    /// Folder of the paintings. Each model's painting is the file its metadata names
    /// (training.style_image), else STYLE.jpg/.jpeg/.png/.webp after its style name.
    #[arg(long, required_unless_present = "videos", requires = "photos")]
    styles: Option<PathBuf>,
    /// Each photo is scaled so its short side is this, then cropped to the centre square
    /// (as training crops; 16-1024).
    #[arg(long, default_value_t = 256, value_parser = u32_in(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE))]
    size: u32,
    /// The painting's longer side in pixels (16-2048) [default: the model's training
    /// --style-size].
    #[arg(long, value_parser = u32_in(MIN_STYLE_SIZE, MAX_STYLE_SIZE))]
    style_size: Option<u32>,
    /// VGG-16 weights, as for `train` (photo scores only).
    #[arg(long)]
    vgg: Option<PathBuf>,
    /// A video clip (mp4, mov, mkv, webm, avi; read with ffmpeg) to measure flicker on,
    /// repeatable: each model's warping error (Lai et al. 2018), the mean change of the
    /// output between frames beyond what the input's optical flow explains, beside the
    /// input's own as the floor. E.g. `--video carphone_pristine.mp4`.
    #[arg(long = "video", value_name = "CLIP")]
    videos: Vec<PathBuf>,
    /// Video frames are shrunk to this longer side before stylizing (16-8192) [default:
    /// the clip's size].
    #[arg(long, value_parser = u32_in(MIN_IMAGE_SIZE, stylecast::io::video::MAX_SIDE))]
    max_side: Option<u32>,
    /// Only the first N frames of each clip (at least 2).
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..))]
    max_frames: Option<u64>,
    /// Also measure each model through the run-time temporal filter of this amount (0-1,
    /// as `edge-runtime --smooth`), repeatable.
    #[arg(long, value_parser = unit_interval)]
    smooth: Vec<f32>,
    /// With --video: draw the warping error of every frame pair, one line per output,
    /// to this PNG.
    #[arg(long, requires = "videos")]
    plot: Option<PathBuf>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Also write the scores to this JSON file: a list of photo scores, or with --video
    /// an object {"photos": [...], "video": [...]}.
    #[arg(long)]
    json: Option<PathBuf>,
}

impl From<EvalArgs> for EvalCommand {
    fn from(a: EvalArgs) -> Self {
        let photos = match (a.photos, a.styles) {
            (Some(photos), Some(styles)) => Some(EvalOptions {
                models: a.models.clone(),
                photos,
                styles,
                size: a.size,
                style_size: a.style_size,
                vgg: a.vgg,
                device: a.device.clone(),
                json: None,
            }),
            _ => None,
        };
        let video = (!a.videos.is_empty()).then(|| VideoEvalOptions {
            models: a.models,
            videos: a.videos,
            max_side: a.max_side,
            max_frames: a.max_frames,
            smooth: a.smooth,
            device: a.device,
        });
        Self {
            photos,
            video,
            json: a.json,
            plot: a.plot,
        }
    }
}

#[derive(Args, Debug)]
pub struct CheckDeviceArgs {
    #[arg(long, default_value = "cuda")]
    pub device: String,
    #[arg(long)]
    pub vgg: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The model, or a training checkpoint (NAME.run/checkpoint.safetensors), to read.
    pub input: PathBuf,
    /// The model to write.
    pub output: PathBuf,
    /// Store f16 weights (about 3.4 MB for the default network).
    #[arg(long, conflicts_with = "f32")]
    pub f16: bool,
    /// Store f32 weights.
    #[arg(long)]
    pub f32: bool,
    /// Write an ONNX file (opset 13: Conv, InstanceNormalization, Pad, Resize, Relu, Add,
    /// Clip) instead of a stylecast model: NCHW RGB in [0, 255], any height and width
    /// (multiples of 4 unless --with-border-pad is given). --f16 makes its weights, input
    /// and output f16.
    #[arg(long)]
    pub onnx: bool,
    /// Put edge-runtime's border pad in the ONNX file: N pixels mirrored onto every side
    /// (and up to a multiple of 4) before the network, cropped off after, so the file gives
    /// what edge-runtime gives with --border-pad N, at any size. Without N: edge-runtime's
    /// default (32).
    #[arg(long, requires = "onnx", value_name = "N", num_args = 0..=1,
          default_missing_value = host_train::onnx::export::DEFAULT_BORDER_PAD_ARG,
          value_parser = clap::value_parser!(u32).range(0..=host_train::onnx::export::MAX_BORDER_PAD as i64))]
    pub with_border_pad: Option<u32>,
}

#[derive(Args, Debug)]
pub struct ImportOnnxArgs {
    /// The .onnx file.
    pub input: PathBuf,
    /// The .safetensors model to write.
    pub output: PathBuf,
    /// Style name stored in the model's metadata.
    #[arg(long)]
    pub style: String,
    /// Write f16 weights (half the size) instead of f32.
    #[arg(long)]
    pub f16: bool,
}

#[derive(Args, Debug)]
pub struct PlotArgs {
    /// The run folder (NAME.run/) or its losses.jsonl.
    pub input: PathBuf,
    /// The PNG to write [default: loss_curve.png beside the log].
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// The flags of `host-train train`; [`TrainArgs::resolve`] makes them a run.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The style image (a painting). Repeat it to train one network holding several styles
    /// (conditional instance norm, Dumoulin et al. 2017): the convolutions are shared, each
    /// style has only its own instance-norm scales and shifts, and each photo of a batch
    /// takes a style at random. Such a model's styles are named after their files (the
    /// file format: models/README.md).
    #[arg(long, required_unless_present = "styles", value_name = "IMAGE")]
    style: Vec<PathBuf>,
    /// Train every image in this folder (not below; jpg, png, webp; sorted by name) as one
    /// multi-style network, as repeated --style does.
    #[arg(long, conflicts_with = "style", value_name = "DIR")]
    styles: Option<PathBuf>,
    /// Folder of content photos, searched recursively (jpg, png, webp); COCO train2014 works as-is.
    #[arg(long)]
    dataset: PathBuf,
    /// The f32 model to write; the f16 copy goes beside it as NAME.f16.safetensors.
    #[arg(long)]
    out: PathBuf,
    /// Style name for the metadata [default: the style image's file name]; one style only
    /// (a multi-style model's styles are named after their files).
    #[arg(long)]
    name: Option<String>,
    /// Passes over the dataset (at least 1).
    #[arg(long, default_value_t = 2, value_parser = at_least_one)]
    epochs: u64,
    /// Stop after this many steps, even mid-epoch (at least 1).
    #[arg(long, value_parser = at_least_one)]
    max_steps: Option<u64>,
    /// Photos per step (1-64).
    #[arg(long, default_value_t = 4, value_parser = usize_in(1, MAX_BATCH))]
    batch_size: usize,
    /// Adam learning rate (above 0, at most 1).
    #[arg(long, default_value_t = 1e-3, value_parser = learning_rate)]
    lr: f64,
    /// Training crops are this many pixels square (short side resized to it, then cropped;
    /// 16-1024).
    #[arg(long, default_value_t = 256, value_parser = u32_in(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE))]
    image_size: u32,
    /// Scale the style image so its longer side is this many pixels (16-2048) [default: as is].
    /// With --init, this and the loss options below default to the model's own training
    /// settings (its metadata), so a style continues with the balance it was tuned to.
    #[arg(long, value_parser = u32_in(MIN_STYLE_SIZE, MAX_STYLE_SIZE))]
    style_size: Option<u32>,
    /// (0 or more) [default: 1e5]
    #[arg(long, value_parser = loss_weight)]
    content_weight: Option<f64>,
    /// Raise for a stronger style, lower to keep more of the photo (`host-train eval`
    /// compares the results; 0 or more) [default: 1e10].
    #[arg(long, value_parser = loss_weight)]
    style_weight: Option<f64>,
    /// Total-variation weight: smooths high-frequency artefacts (0 or more) [default: 1e-2].
    #[arg(long, value_parser = loss_weight)]
    tv_weight: Option<f64>,
    /// VGG layer of the content loss (relu3_3 as in Johnson's code; relu2_2 as in the paper)
    /// [default: relu3_3].
    #[arg(long, value_parser = layer_parser())]
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
    /// Write the checkpoint every N steps (at least 1; also at the end and on a stop signal).
    #[arg(long, default_value_t = 500, value_parser = at_least_one)]
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
    /// Start afresh although NAME.run/ holds an earlier run's checkpoint: that folder is
    /// first moved aside to NAME.run.old-N (nothing is deleted). Without it (or --resume)
    /// such a run is refused.
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Start from a model file's weights (f32 or f16) instead of fresh ones, e.g. to train a
    /// shipped style further (`--init models/starry_night.safetensors`) or to fine-tune one
    /// style towards another. Adam starts afresh; the metadata records the model and its steps.
    /// Pass another --seed than the model's run to see the photos in a new order.
    #[arg(long)]
    init: Option<PathBuf>,
    /// Raise the learning rate linearly to --lr over the first N steps. Adam's first steps
    /// move every weight by about --lr at once, which jolts trained weights: with --init the
    /// style loss jumps and takes many steps to recover (measured: models/README.md)
    /// [default: 100 with --init, else 0 (fresh weights, as in the paper); with --resume, the
    /// checkpoint's].
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=MAX_WARMUP))]
    warmup_steps: Option<u64>,
    /// Weight of the temporal-stability term: each batch also goes through the network
    /// shifted by 0-3 pixels and with camera-like noise, and the two outputs, aligned, are
    /// pulled together (mean squared difference, 0-255). Without it a style re-paints its
    /// strokes whenever the picture moves by a pixel (the network sees the image modulo 4),
    /// and live video swims; `host-train eval` reports this as flicker. Costs one more
    /// network pass per step (not VGG). See models/README.md for the values used
    /// [default: that of --init's model, else 0: off].
    #[arg(long, value_parser = loss_weight)]
    stability_weight: Option<f64>,
    /// Largest shift of the stability copy, in pixels right and down (1-3 covers every
    /// phase of the network's 4-pixel grid; 0-64).
    #[arg(long, default_value_t = 3, value_parser = usize_in(0, 64))]
    stability_shift: usize,
    /// Standard deviation of the stability copy's Gaussian noise, in 0-255 levels (0-255).
    #[arg(long, default_value_t = 2.0, value_parser = noise_level)]
    stability_noise: f64,
    /// Finish (final model and all) at the first step after this many seconds. The run still
    /// ends at --epochs (default 2) or --max-steps if those come first: for a run bounded by
    /// time alone, add e.g. --epochs 1000.
    #[arg(long, value_parser = seconds)]
    time_limit: Option<f64>,
    /// No progress bar (for logs and CI).
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
pub struct AddStyleArgs {
    /// The trained model (one style or several, f32 or f16) whose convolutions the new style
    /// shares.
    base: PathBuf,
    /// The new style's painting.
    #[arg(long, value_name = "IMAGE")]
    style: PathBuf,
    /// Folder of content photos, searched recursively, as for `train`.
    #[arg(long)]
    dataset: PathBuf,
    /// The model to write (f32; the f16 copy goes beside it as NAME.f16.safetensors). Not the
    /// base: that stays as it is.
    #[arg(long)]
    out: PathBuf,
    /// The new style's name [default: the painting's file name].
    #[arg(long)]
    name: Option<String>,
    /// Where the new style starts: `mean`, the mean of the existing styles' scales and
    /// shifts, or `nearest`, the existing style whose output is already closest to the new
    /// painting (lowest style loss on a few photos; one forward pass per style).
    #[arg(long, default_value = "mean", value_parser = ["mean", "nearest"])]
    start: String,
    /// Training steps (at least 1).
    #[arg(long, default_value_t = 1000, value_parser = at_least_one)]
    steps: u64,
    /// Stop at the first step after this many seconds and write the model.
    #[arg(long, value_parser = seconds)]
    time_limit: Option<f64>,
    /// Also write every step's losses and the seconds so far to this file (JSON lines):
    /// the time-to-loss curve, e.g. for scripts/multi_style_goals.py.
    #[arg(long, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Training crops are this many pixels square (16-1024).
    #[arg(long, default_value_t = 256, value_parser = u32_in(MIN_IMAGE_SIZE, MAX_IMAGE_SIZE))]
    image_size: u32,
    /// Photos per step (1-64).
    #[arg(long, default_value_t = 4, value_parser = usize_in(1, MAX_BATCH))]
    batch_size: usize,
    /// Adam learning rate of the scales and shifts: higher than training's 1e-3, as only
    /// they move (above 0, at most 1).
    #[arg(long, default_value_t = host_train::add_style::DEFAULT_LR, value_parser = learning_rate)]
    lr: f64,
    /// Scale the painting so its longer side is this many pixels (16-2048) [default: the
    /// base's training --style-size, else as is]. This and the loss weights below default
    /// to the base's training settings, so the new style has the balance the others have.
    #[arg(long, value_parser = u32_in(MIN_STYLE_SIZE, MAX_STYLE_SIZE))]
    style_size: Option<u32>,
    /// (0 or more) [default: the base's, else 1e5]
    #[arg(long, value_parser = loss_weight)]
    content_weight: Option<f64>,
    /// Raise for a stronger style (0 or more) [default: the base's, else 1e10].
    #[arg(long, value_parser = loss_weight)]
    style_weight: Option<f64>,
    /// (0 or more) [default: the base's, else 1e-2]
    #[arg(long, value_parser = loss_weight)]
    tv_weight: Option<f64>,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// VGG-16 weights, as for `train`.
    #[arg(long)]
    vgg: Option<PathBuf>,
    /// No progress bar (for logs and CI).
    #[arg(long)]
    quiet: bool,
}

impl AddStyleArgs {
    /// The run: the base's recorded loss settings and style size where not given.
    pub fn resolve(self) -> Result<host_train::add_style::AddStyleOptions> {
        let base = host_train::add_style::load_base(&self.base)?;
        let training = base.meta.training.as_ref();
        let recorded = recorded_loss(training)
            .and_then(|l| l.ok())
            .unwrap_or_default();
        let loss = LossConfig {
            content_weight: self.content_weight.unwrap_or(recorded.content_weight),
            style_weight: self.style_weight.unwrap_or(recorded.style_weight),
            tv_weight: self.tv_weight.unwrap_or(recorded.tv_weight),
            ..recorded
        };
        Ok(host_train::add_style::AddStyleOptions {
            base: self.base,
            style: self.style,
            out: self.out,
            name: self.name,
            start: if self.start == "nearest" {
                host_train::add_style::Start::Nearest
            } else {
                host_train::add_style::Start::Mean
            },
            steps: self.steps,
            time_limit: self.time_limit,
            dataset: self.dataset,
            image_size: self.image_size,
            batch_size: self.batch_size,
            lr: self.lr,
            style_size: self.style_size.or_else(|| recorded_style_size(training)),
            loss,
            seed: self.seed,
            vgg: self.vgg,
            device: self.device,
            progress: !self.quiet,
            log: self.log,
        })
    }
}

/// A training run as the flags describe it.
#[derive(Debug)]
pub struct TrainRun {
    pub options: TrainOptions,
    /// The checkpoint to continue from (`--resume`).
    pub resume: Option<PathBuf>,
    /// `--overwrite`: move an earlier run's folder aside instead of refusing.
    pub overwrite: bool,
}

impl TrainArgs {
    /// The run these flags ask for: reads the `--init` model's metadata (its network and
    /// training settings are the defaults of what is not given), then [`Self::resolve_with`].
    pub fn resolve(self) -> Result<TrainRun> {
        let init_meta = match &self.init {
            Some(p) => Some(
                ModelFile::load(p, &Device::Cpu)
                    .with_context(|| format!("--init {}", p.display()))?
                    .meta,
            ),
            None => None,
        };
        self.resolve_with(init_meta.as_ref())
    }

    /// The run these flags ask for, given the `--init` model's metadata. Checks the
    /// stability settings and says on stderr what it took from the `--init` model.
    pub fn resolve_with(self, init_meta: Option<&ModelMeta>) -> Result<TrainRun> {
        let mut a = self;
        let mut styles = match a.styles.take() {
            Some(dir) => styles_in(&dir)?,
            None => std::mem::take(&mut a.style),
        };
        if styles.is_empty() {
            bail!("give the style image with --style IMAGE (or several, or --styles DIR)");
        }
        let style = styles.remove(0);
        if a.name.is_some() && !styles.is_empty() {
            bail!(
                "--name names a one-style model; the {} styles of a multi-style model are named \
                 after their image files (rename the files to rename them)",
                styles.len() + 1
            );
        }
        let style_name = a.name.clone().unwrap_or_else(|| style_stem(&style));
        let init_training = init_meta.and_then(|m| m.training.as_ref());
        let base = match recorded_loss(init_training) {
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
        let stability = StabilityConfig {
            weight: a
                .stability_weight
                .or(recorded_stability(init_training).map(|s| s.weight))
                .unwrap_or(0.0),
            max_shift: a.stability_shift,
            noise: a.stability_noise,
        };
        if !(stability.weight >= 0.0 && stability.noise >= 0.0) {
            bail!("--stability-weight and --stability-noise must be 0 or more");
        }
        // The compared region must survive the shift and both margins.
        if stability.weight > 0.0
            && stability.max_shift + 2 * stability::MARGIN >= a.image_size as usize
        {
            bail!(
                "--stability-shift {} is too large for --image-size {}",
                stability.max_shift,
                a.image_size
            );
        }
        let style_size = a.style_size.or_else(|| recorded_style_size(init_training));
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
                "--init: the learning rate warms up over the first {INIT_WARMUP_STEPS} steps, \
                 sparing the trained weights Adam's first full-size steps (--warmup-steps 0 to skip)"
            );
        }
        let net = match (a.net.as_deref(), init_meta) {
            (Some("small"), _) => NetConfig::small(),
            (Some(_), _) => NetConfig::default(),
            (None, Some(m)) => m.config,
            (None, None) => NetConfig::default(),
        };
        let net = net.with_styles(1 + styles.len());
        let options = TrainOptions {
            style,
            style_name,
            more_styles: styles,
            dataset: a.dataset,
            out: a.out,
            epochs: a.epochs,
            max_steps: a.max_steps,
            batch_size: a.batch_size,
            lr: a.lr,
            image_size: a.image_size,
            style_size,
            loss,
            net,
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
        Ok(TrainRun {
            options,
            resume: a.resume,
            overwrite: a.overwrite,
        })
    }
}

/// `--styles DIR`: the images directly in `dir`, sorted by name; none is an error naming it.
fn styles_in(dir: &std::path::Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("--styles {}: cannot read the folder", dir.display()))?;
    let mut found = Vec::new();
    for e in entries {
        let p = e
            .with_context(|| format!("--styles {}: cannot read the folder", dir.display()))?
            .path();
        if p.is_file() && stylecast::io::image::is_image_path(&p) {
            found.push(p);
        }
    }
    found.sort();
    if found.is_empty() {
        bail!(
            "--styles {}: no style images in this folder (jpg, jpeg, png, webp; subfolders are \
             not searched)",
            dir.display()
        );
    }
    Ok(found)
}

// Bounds of the numeric options. The upper ones keep a typo (an extra zero) from asking
// for more memory than any machine has: a batch of 64 at 1024 px already needs tens of GB.
const MAX_BATCH: usize = 64;
const MIN_IMAGE_SIZE: u32 = 16;
const MAX_IMAGE_SIZE: u32 = 1024;
/// VGG-16 halves the style image three times before relu4_3, so under 8 px nothing is
/// left to pool, and a painting under 16 px has no strokes to learn.
const MIN_STYLE_SIZE: u32 = host_train::style::MIN_STYLE_SIDE;
const MAX_STYLE_SIZE: u32 = 2048;
const MAX_WARMUP: u64 = 1_000_000_000;

/// An integer option within `lo..=hi`, refused by clap with the range otherwise.
fn usize_in(lo: usize, hi: usize) -> impl TypedValueParser<Value = usize> {
    clap::value_parser!(u64)
        .range(lo as u64..=hi as u64)
        .map(|v| v as usize)
}

fn u32_in(lo: u32, hi: u32) -> impl TypedValueParser<Value = u32> {
    clap::value_parser!(u32).range(lo as i64..=hi as i64)
}

/// A count of steps or passes: 0 would do nothing, or write untrained weights.
fn at_least_one(s: &str) -> std::result::Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(v) if v >= 1 => Ok(v),
        Ok(_) => Err("must be at least 1".into()),
        Err(_) => Err(format!("{s:?} is not a whole number")),
    }
}

/// A finite number within `lo..=hi` (`lo` excluded when `open`), or a message.
fn float_in(s: &str, lo: f64, open: bool, hi: f64) -> std::result::Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    let above = if open { v > lo } else { v >= lo };
    if !(v.is_finite() && above && v <= hi) {
        let low = if open { "above" } else { "at least" };
        return Err(format!(
            "must be a finite number {low} {lo} and at most {hi:e}"
        ));
    }
    Ok(v)
}

/// `--lr`: Adam moves each weight by about this much per step; above 1 only diverges.
fn learning_rate(s: &str) -> std::result::Result<f64, String> {
    float_in(s, 0.0, true, 1.0)
}

/// Loss weights: 0 turns a term off; a negative one would reward the opposite.
fn loss_weight(s: &str) -> std::result::Result<f64, String> {
    float_in(s, 0.0, false, 1e30)
}

fn noise_level(s: &str) -> std::result::Result<f64, String> {
    float_in(s, 0.0, false, 255.0)
}

/// `--smooth`: a filter amount within 0..=1.
fn unit_interval(s: &str) -> std::result::Result<f32, String> {
    float_in(s, 0.0, false, 1.0).map(|v| v as f32)
}

/// `--time-limit`: up to a year.
fn seconds(s: &str) -> std::result::Result<f64, String> {
    float_in(s, 0.0, true, 3.2e7)
}

/// `--content-layer`: one of the VGG layer names (listed in the help and in errors).
fn layer_parser() -> impl TypedValueParser<Value = VggLayer> {
    PossibleValuesParser::new(VggLayer::NAMES)
        .try_map(|s| VggLayer::from_name(&s).ok_or_else(|| format!("unknown layer {s:?}")))
}

/// `--style-layers`: `relu1_2:1,relu2_2,...`, each layer with an optional weight (1).
fn parse_style_layers(s: &str) -> Result<Vec<(VggLayer, f64)>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (name, w) = p.split_once(':').unwrap_or((p, "1"));
            let layer = VggLayer::from_name(name.trim()).ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown style layer {name:?} (use relu1_2, relu2_2, relu3_3, relu4_3)"
                )
            })?;
            let w: f64 = w
                .trim()
                .parse()
                .with_context(|| format!("bad weight in {p:?}"))?;
            if !(w.is_finite() && w >= 0.0) {
                bail!("bad weight in {p:?}: must be a finite number, 0 or more");
            }
            Ok((layer, w))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `host-train train` with the required flags and `extra`, parsed.
    fn train_args(extra: &[&str]) -> TrainArgs {
        let base = [
            "host-train",
            "train",
            "--style",
            "paintings/wave.jpg",
            "--dataset",
            "photos",
            "--out",
            "models/wave.safetensors",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(extra)).expect("flags parse");
        match cli.command {
            Command::Train(a) => *a,
            _ => unreachable!("parsed as train"),
        }
    }

    /// The metadata of a small model trained with style weight 3e9, style size 512,
    /// content at relu2_2 and stability weight 2e4.
    fn trained_meta() -> ModelMeta {
        let mut m = ModelMeta::new("wave", NetConfig::small());
        let loss = LossConfig {
            style_weight: 3e9,
            content_layer: VggLayer::Relu2_2,
            ..LossConfig::default()
        };
        m.training = Some(serde_json::json!({
            "loss": loss,
            "style_size": 512,
            "stability": StabilityConfig { weight: 2e4, ..Default::default() },
        }));
        m
    }

    #[test]
    fn defaults_without_init() {
        let r = train_args(&[]).resolve_with(None).unwrap();
        let o = &r.options;
        assert_eq!(o.style_name, "wave");
        assert_eq!(o.loss, LossConfig::default());
        assert_eq!(o.net, NetConfig::default());
        assert_eq!(o.style_size, None);
        assert_eq!(o.stability, StabilityConfig::default());
        assert_eq!(o.warmup_steps, None);
        assert!(o.progress);
        assert!(r.resume.is_none());
    }

    #[test]
    fn repeated_styles_make_one_multi_style_run() {
        let o = train_args(&["--style", "paintings/scream.png", "--net", "small"])
            .resolve_with(None)
            .unwrap()
            .options;
        assert_eq!(o.style, PathBuf::from("paintings/wave.jpg"));
        assert_eq!(o.more_styles, vec![PathBuf::from("paintings/scream.png")]);
        assert_eq!(o.style_names(), ["wave", "scream"]);
        assert_eq!(o.net, NetConfig::small().with_styles(2));
        let e = train_args(&["--style", "b.jpg", "--name", "x"])
            .resolve_with(None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--name names a one-style model"), "{e}");
        let e = parse_error("train", &["--styles", "paintings"]);
        assert!(e.contains("cannot be used with"), "{e}");
        // One --style is the one-style run it always was.
        let o = train_args(&[]).resolve_with(None).unwrap().options;
        assert!(o.more_styles.is_empty() && o.net.styles == 1);
    }

    #[test]
    fn a_styles_folder_gives_its_images_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["b.png", "a.jpg", "notes.txt"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.jpg")).unwrap();
        let found = styles_in(dir.path()).unwrap();
        assert_eq!(found, [dir.path().join("a.jpg"), dir.path().join("b.png")]);
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let e = styles_in(&empty).unwrap_err().to_string();
        assert!(e.contains("empty: no style images"), "{e}");
    }

    #[test]
    fn init_carries_the_recorded_settings_unless_given() {
        let meta = trained_meta();
        let o = train_args(&["--init", "m.safetensors"])
            .resolve_with(Some(&meta))
            .unwrap()
            .options;
        assert_eq!(o.loss.style_weight, 3e9);
        assert_eq!(o.loss.content_layer, VggLayer::Relu2_2);
        assert_eq!(o.style_size, Some(512));
        assert_eq!(o.stability.weight, 2e4);
        assert_eq!(o.net, NetConfig::small());

        let o = train_args(&[
            "--init",
            "m.safetensors",
            "--style-weight",
            "5e10",
            "--content-layer",
            "relu3_3",
            "--style-size",
            "256",
            "--stability-weight",
            "0",
            "--net",
            "default",
            "--resume",
            "c.safetensors",
        ])
        .resolve_with(Some(&meta))
        .unwrap();
        assert_eq!(o.options.loss.style_weight, 5e10);
        assert_eq!(o.options.loss.content_layer, VggLayer::Relu3_3);
        // Not given: still the model's.
        assert_eq!(
            o.options.loss.content_weight,
            LossConfig::default().content_weight
        );
        assert_eq!(o.options.style_size, Some(256));
        assert_eq!(o.options.stability.weight, 0.0);
        assert_eq!(o.options.net, NetConfig::default());
        assert_eq!(o.resume, Some(PathBuf::from("c.safetensors")));
    }

    #[test]
    fn an_unreadable_recorded_loss_falls_back_to_the_defaults() {
        let mut meta = trained_meta();
        meta.training = Some(serde_json::json!({ "loss": "garbage" }));
        let o = train_args(&["--init", "m.safetensors"])
            .resolve_with(Some(&meta))
            .unwrap()
            .options;
        assert_eq!(o.loss, LossConfig::default());
    }

    #[test]
    fn style_layers_parse_with_and_without_weights() {
        let o = train_args(&["--style-layers", "relu1_2:0.5, RELU4_3"])
            .resolve_with(None)
            .unwrap()
            .options;
        assert_eq!(
            o.loss.style_layers,
            vec![(VggLayer::Relu1_2, 0.5), (VggLayer::Relu4_3, 1.0)]
        );
    }

    /// The clap error for `host-train SUBCOMMAND ARGS` (required flags added for train).
    fn parse_error(sub: &str, args: &[&str]) -> String {
        let mut v = vec!["host-train", sub];
        if sub == "train" {
            v.extend([
                "--style",
                "s.jpg",
                "--dataset",
                "d",
                "--out",
                "o.safetensors",
            ]);
        } else if sub == "eval" {
            v.extend(["m.safetensors", "--photos", "p", "--styles", "s"]);
        }
        v.extend(args);
        match Cli::try_parse_from(&v) {
            Ok(_) => panic!("{args:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn numeric_options_outside_their_range_are_refused_by_clap() {
        for (sub, args, words) in [
            ("train", &["--max-steps", "0"][..], "must be at least 1"),
            ("train", &["--epochs", "0"][..], "must be at least 1"),
            ("train", &["--batch-size", "30000"][..], "1..=64"),
            ("train", &["--batch-size", "0"][..], "1..=64"),
            ("train", &["--image-size", "100000"][..], "16..=1024"),
            ("train", &["--image-size", "8"][..], "16..=1024"),
            ("train", &["--style-size", "100000"][..], "16..=2048"),
            ("train", &["--style-size", "4"][..], "16..=2048"),
            ("train", &["--lr=-1"][..], "must be a finite number above 0"),
            ("train", &["--lr", "0"][..], "above 0"),
            ("train", &["--lr", "NaN"][..], "finite"),
            ("train", &["--lr", "inf"][..], "finite"),
            ("train", &["--lr", "x"][..], "is not a number"),
            ("train", &["--style-weight=-1e10"][..], "at least 0"),
            ("train", &["--content-weight", "nan"][..], "finite"),
            ("train", &["--tv-weight=-1"][..], "at least 0"),
            ("train", &["--stability-weight=-1"][..], "at least 0"),
            ("train", &["--stability-noise=-2"][..], "at least 0"),
            ("train", &["--stability-noise", "1000"][..], "at most"),
            ("train", &["--stability-shift", "1000"][..], "0..=64"),
            (
                "train",
                &["--checkpoint-every", "0"][..],
                "must be at least 1",
            ),
            ("train", &["--time-limit", "0"][..], "above 0"),
            (
                "train",
                &["--warmup-steps", "99999999999"][..],
                "--warmup-steps",
            ),
            ("bench", &["--batch-size", "30000"][..], "1..=64"),
            ("bench", &["--image-size", "100000"][..], "16..=1024"),
            ("bench", &["--steps", "0"][..], "--steps"),
            ("eval", &["--size", "100000"][..], "16..=1024"),
            ("eval", &["--style-size", "3"][..], "16..=2048"),
        ] {
            let e = parse_error(sub, args);
            assert!(
                e.contains(words) && e.contains("invalid value"),
                "{sub} {args:?}: {e}"
            );
        }
        // The edges of the ranges are accepted.
        let o = train_args(&[
            "--batch-size",
            "64",
            "--image-size",
            "16",
            "--style-size",
            "16",
            "--lr",
            "1",
            "--max-steps",
            "1",
            "--epochs",
            "1",
            "--style-weight",
            "0",
        ])
        .resolve_with(None)
        .unwrap()
        .options;
        assert_eq!(
            (o.batch_size, o.image_size, o.style_size),
            (64, 16, Some(16))
        );
    }

    #[test]
    fn overwrite_is_passed_on_and_conflicts_with_resume() {
        assert!(!train_args(&[]).resolve_with(None).unwrap().overwrite);
        assert!(
            train_args(&["--overwrite"])
                .resolve_with(None)
                .unwrap()
                .overwrite
        );
        let e = parse_error("train", &["--overwrite", "--resume", "c.safetensors"]);
        assert!(e.contains("cannot be used with"), "{e}");
    }

    #[test]
    fn bad_values_are_refused() {
        let err = |extra: &[&str]| {
            train_args(extra)
                .resolve_with(None)
                .unwrap_err()
                .to_string()
        };
        assert!(err(&["--style-layers", "relu9_9"]).contains("unknown style layer"));
        assert!(err(&["--style-layers", "relu1_2:x"]).contains("bad weight"));
        assert!(err(&["--style-layers", "relu1_2:-1"]).contains("0 or more"));
        assert!(err(&["--style-layers", "relu1_2:NaN"]).contains("0 or more"));
        // 3 + 2 * 8 margins: 19 px of a 19 px crop leaves nothing to compare.
        assert!(err(&["--stability-weight", "1", "--image-size", "19"])
            .contains("--stability-shift 3 is too large for --image-size 19"));
        // Off, the shift is not checked.
        assert!(train_args(&["--image-size", "19"])
            .resolve_with(None)
            .is_ok());
        assert!(Cli::try_parse_from([
            "host-train",
            "train",
            "--style",
            "s",
            "--dataset",
            "d",
            "--out",
            "o",
            "--content-layer",
            "relu5_3"
        ])
        .is_err());
    }

    fn eval_command(args: &[&str]) -> std::result::Result<EvalCommand, String> {
        let mut v = vec!["host-train", "eval", "m.safetensors"];
        v.extend(args);
        match Cli::try_parse_from(&v).map_err(|e| e.to_string())?.command {
            Command::Eval(a) => Ok(a.into()),
            _ => unreachable!("parsed as eval"),
        }
    }

    #[test]
    fn eval_takes_photos_or_video_or_both() {
        let c = eval_command(&["--video", "a.mp4", "--video", "b.mkv", "--smooth", "0.5"]).unwrap();
        assert!(c.photos.is_none());
        let v = c.video.unwrap();
        assert_eq!(v.videos.len(), 2);
        assert_eq!(v.smooth, vec![0.5]);
        let c = eval_command(&["--photos", "p", "--styles", "s"]).unwrap();
        assert!(c.video.is_none() && c.photos.is_some());
        let c = eval_command(&["--photos", "p", "--styles", "s", "--video", "a.mp4"]).unwrap();
        assert!(c.video.is_some() && c.photos.is_some());
        // Neither, half of the photo pair, a plot without a clip, a bad amount: refused.
        for bad in [
            &[][..],
            &["--photos", "p", "--video", "a.mp4"][..],
            &["--photos", "p", "--styles", "s", "--plot", "x.png"][..],
            &["--video", "a.mp4", "--smooth", "1.5"][..],
            &["--video", "a.mp4", "--max-frames", "1"][..],
        ] {
            assert!(eval_command(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
