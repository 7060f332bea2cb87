//! A run's setup: the options settled, the loss network, style target and photos loaded,
//! the weights fresh, from `--init` or from a checkpoint (with Adam's state, for an exact
//! resume), the step range fixed and the run folder opened.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use stylecast::io::image::{image_to_tensor, load_rgb, resize_longer_side};

use super::outcome::EndedBy;
use crate::adam::{Adam, AdamConfig};
use crate::checkpoint::{self, Loaded};
use crate::data::Dataset;
use crate::log::{LossLog, LossRecord};
use crate::loss::StyleTarget;
use crate::model::Trainable;
use crate::options::{TrainOptions, LOG_FILE};
use crate::style::load_style;
use crate::vgg::{resolve_weights, Vgg16};
use crate::weights::init_from_model;

/// Previews are stylized at most this size (longer side): they cost a forward pass each.
const PREVIEW_SIDE: u32 = 384;

/// A run in progress: what the step loop and the finish work with.
pub(super) struct Run {
    /// The options with the warmup default settled.
    pub opts: TrainOptions,
    pub device: Device,
    pub vgg: Vgg16,
    pub vgg_path: PathBuf,
    /// The Gram targets of each style, in the network's order (one for a one-style run).
    pub targets: Vec<StyleTarget>,
    /// The SHA-256 of each style image, in the same order.
    pub style_hashes: Vec<String>,
    pub ds: Arc<Dataset>,
    pub model: Trainable,
    pub adam: Adam,
    /// Steps done before this process (a resume), and the step the run ends at.
    pub start: u64,
    pub total: u64,
    pub steps_per_epoch: u64,
    pub ended_by: EndedBy,
    /// Where the weights started, for the model's metadata (carried through resumes).
    pub init: Option<serde_json::Value>,
    /// Seconds spent before this process (resumed runs), so the metadata counts the whole run.
    pub prior_seconds: f64,
    /// When this process's steps began.
    pub clock: Instant,
    pub log: LossLog,
    /// This process's last step, if it took any.
    pub last: Option<LossRecord>,
    pub preview_x: Tensor,
}

impl Run {
    /// Loads everything a run needs, from scratch or from the checkpoint `resume`.
    pub(super) fn setup(opts: &TrainOptions, resume: Option<&Path>) -> Result<Self> {
        let device = stylecast::parse_device(&opts.device)?;
        let resumed = match resume {
            Some(ckpt) => Some((ckpt, checkpoint::load(ckpt, &device)?)),
            None => None,
        };
        let mut opts = opts.clone();
        opts.settle_warmup(resumed.as_ref().map(|(_, l)| &l.state.options));
        if opts.batch_size == 0 {
            bail!("--batch-size must be at least 1");
        }
        // Zero steps would write untrained weights over a trained --out.
        if opts.epochs == 0 || opts.max_steps == Some(0) {
            bail!("--epochs and --max-steps must be at least 1");
        }
        check_styles(&opts)?;
        let vgg_path = resolve_weights(opts.vgg.as_deref())?;
        let vgg = Vgg16::load(&vgg_path, &device)?;
        let (mut targets, mut style_hashes) = (Vec::new(), Vec::new());
        for path in opts.style_paths() {
            let (img, hash) = load_style(path, opts.style_size, &device)?;
            targets.push(StyleTarget::new(&vgg, &img, &opts.loss)?);
            style_hashes.push(hash);
        }
        let ds = Arc::new(Dataset::scan(&opts.dataset, opts.image_size, opts.seed)?);

        let model = Trainable::new(&opts.net, &device, opts.seed)?;
        let mut adam = Adam::new(
            model.named_vars(),
            AdamConfig {
                lr: opts.lr,
                ..Default::default()
            },
        )?;
        let (mut start, mut init, mut prior_seconds) = (0, None, 0.0);
        if let Some((ckpt, loaded)) = resumed {
            restore(&opts, ckpt, &loaded, &model, &mut adam)?;
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
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("creating {}", run_dir.display()))?;
        let log = LossLog::open(&run_dir.join(LOG_FILE), start)?;
        let preview_src = match &opts.preview_image {
            Some(p) => load_rgb(p)?,
            None => ds.sample(0, &|e| Arc::new(ds.epoch_order(e)))?,
        };
        let preview_src = if preview_src.width().max(preview_src.height()) > PREVIEW_SIDE {
            resize_longer_side(&preview_src, PREVIEW_SIDE)
        } else {
            preview_src
        };
        let preview_x = image_to_tensor(&preview_src, &device, DType::F32)?;
        Ok(Self {
            opts,
            device,
            vgg,
            vgg_path,
            targets,
            style_hashes,
            ds,
            model,
            adam,
            start,
            total,
            steps_per_epoch,
            ended_by,
            init,
            prior_seconds,
            clock: Instant::now(),
            log,
            last: None,
            preview_x,
        })
    }
}

/// Before anything loads: every style image is a file, the network holds one style per
/// image, and a multi-style run's names (file stems) are distinct and usable in a blend
/// (no `,` or `:`).
fn check_styles(opts: &TrainOptions) -> Result<()> {
    let paths = opts.style_paths();
    for p in &paths {
        if !p.is_file() {
            bail!(
                "{}: style image not found{}",
                p.display(),
                if p.is_dir() {
                    " (a folder: --styles DIR takes every image in one)"
                } else {
                    ""
                }
            );
        }
    }
    if opts.net.styles != paths.len() {
        bail!(
            "the network holds {} style(s) for {} style image(s)",
            opts.net.styles,
            paths.len()
        );
    }
    if !opts.is_multi() {
        return Ok(());
    }
    let names = opts.style_names();
    for (i, (name, path)) in names.iter().zip(&paths).enumerate() {
        if name.trim().is_empty() || name.contains([',', ':']) {
            bail!(
                "{}: its name {name:?} (the file stem) cannot name a style: no ',' or ':' \
                 (a blend such as a:0.6,b:0.4 uses them); rename the file",
                path.display()
            );
        }
        if let Some(j) = names[..i].iter().position(|n| n == name) {
            bail!(
                "{} and {} would both be the style {name:?} (styles are named after their \
                 file stems): rename one",
                paths[j].display(),
                path.display()
            );
        }
    }
    Ok(())
}

/// Puts a checkpoint's weights and Adam moments back, after checking it was made with
/// the same options (`TrainOptions::resume_mismatches`).
fn restore(
    opts: &TrainOptions,
    ckpt: &Path,
    loaded: &Loaded,
    model: &Trainable,
    adam: &mut Adam,
) -> Result<()> {
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
    Ok(())
}
