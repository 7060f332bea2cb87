//! What determines a training run (`TrainOptions`) and the folder of files it writes.
//!
//! The options are stored in every checkpoint, so a resume can refuse to continue a run
//! with other settings; `host-train train` builds them from its flags (`cli.rs`).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stylecast::NetConfig;

use crate::loss::LossConfig;
use crate::stability::StabilityConfig;

/// Warmup steps when continuing a model with --init and not told otherwise.
pub const INIT_WARMUP_STEPS: u64 = 100;

/// The run folder's loss log, one JSON [`crate::log::LossRecord`] a line.
pub const LOG_FILE: &str = "losses.jsonl";
/// The run folder's loss-curve picture.
pub const CURVE_FILE: &str = "loss_curve.png";

/// Everything that determines a run. Stored in checkpoints; a resume must match it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// The style image; with `more_styles`, the first of a multi-style run's.
    pub style: PathBuf,
    pub style_name: String,
    /// The other styles of a multi-style run (`--style` repeated, or `--styles DIR`), in
    /// the network's order after `style`; each is named after its file stem, and `net`
    /// holds 1 + their number styles. Empty: a one-style network, as before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_styles: Vec<PathBuf>,
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
    /// +-1 at t=1), harmless for fresh weights but a shock for trained ones
    /// (models/README.md). None: the default, [`INIT_WARMUP_STEPS`] with --init and 0
    /// without; on a resume, the checkpoint's value. Checkpoints from before warmup
    /// existed read as 0.
    #[serde(default = "no_warmup")]
    pub warmup_steps: Option<u64>,
    /// The temporal-stability term (`stability.rs`); weight 0, the default, leaves it out.
    #[serde(default)]
    pub stability: StabilityConfig,
}

/// A style's name from its image's file: the stem (`starry_night.jpg` -> `starry_night`).
pub fn style_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "style".into())
}

fn no_warmup() -> Option<u64> {
    Some(0)
}

impl TrainOptions {
    /// Every style image, in the network's order.
    pub fn style_paths(&self) -> Vec<&Path> {
        std::iter::once(self.style.as_path())
            .chain(self.more_styles.iter().map(PathBuf::as_path))
            .collect()
    }

    /// The styles' names, in the network's order: `style_name`, then the other images'
    /// file stems.
    pub fn style_names(&self) -> Vec<String> {
        std::iter::once(self.style_name.clone())
            .chain(self.more_styles.iter().map(|p| style_stem(p)))
            .collect()
    }

    /// Whether the run trains a multi-style network.
    pub fn is_multi(&self) -> bool {
        !self.more_styles.is_empty()
    }

    /// The model's file stem: `NAME` of `NAME.safetensors`.
    fn out_stem(&self) -> String {
        self.out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    }

    /// The files a run writes besides the model: `<out stem>.run/`.
    pub fn run_dir(&self) -> PathBuf {
        self.out.with_file_name(format!("{}.run", self.out_stem()))
    }
    pub fn checkpoint_path(&self) -> PathBuf {
        self.run_dir().join("checkpoint.safetensors")
    }
    /// `NAME.safetensors` -> `NAME.f16.safetensors`.
    pub fn f16_path(&self) -> PathBuf {
        self.out
            .with_file_name(format!("{}.f16.safetensors", self.out_stem()))
    }

    /// Settles the warmup default (given; else a resumed checkpoint's; else
    /// [`INIT_WARMUP_STEPS`] with --init, 0 without), so checkpoints and metadata hold
    /// the number used.
    pub fn settle_warmup(&mut self, resumed: Option<&TrainOptions>) {
        self.warmup_steps = Some(match (self.warmup_steps, resumed) {
            (Some(n), _) => n,
            (None, Some(r)) => r.warmup_steps.unwrap_or(0),
            (None, None) if self.init.is_some() => INIT_WARMUP_STEPS,
            (None, None) => 0,
        });
    }

    /// Fields that must agree for a resume to continue the same run exactly.
    pub(crate) fn resume_mismatches(&self, other: &TrainOptions) -> Vec<&'static str> {
        let mut v = Vec::new();
        macro_rules! cmp {
            ($($f:ident),*) => { $( if self.$f != other.$f { v.push(stringify!($f)); } )* };
        }
        cmp!(
            style,
            more_styles,
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
