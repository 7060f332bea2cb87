//! Training checkpoints: weights, Adam moments and the loop's state in one safetensors
//! file, written atomically so a crash or Ctrl-C never destroys the last good one.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use stylecast::io::model_file::{check_finite, serialize_tensors};
use stylecast::ModelFile;

use crate::adam::Adam;
use crate::model::Trainable;
use crate::options::TrainOptions;
use crate::weights::{model_meta, run_metadata};

pub const CHECKPOINT_FORMAT: &str = "stylecast-checkpoint";

/// Everything besides tensors that an exact resume needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Steps completed.
    pub step: u64,
    /// The options the run was started with (data order and augmentation derive from its seed).
    pub options: TrainOptions,
    /// Where the weights started when `options.init` was given (see the model metadata).
    #[serde(default)]
    pub init: Option<serde_json::Value>,
    /// Training seconds up to this checkpoint, summed over every resumed segment
    /// (0 in checkpoints written before this field existed).
    #[serde(default)]
    pub seconds: f64,
}

pub fn save(path: &Path, model: &Trainable, adam: &Adam, state: &CheckpointState) -> Result<()> {
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (name, slot) in &adam.slots {
        tensors.insert(format!("param.{name}"), slot.var.as_tensor().detach());
        tensors.insert(format!("adam_m.{name}"), slot.m.detach());
        tensors.insert(format!("adam_v.{name}"), slot.v.detach());
    }
    debug_assert_eq!(adam.slots.len(), model.named_vars().len());
    // A diverged run must not replace the last good checkpoint with NaNs.
    check_finite(&tensors, path).map_err(|e| {
        anyhow::anyhow!(
            "training diverged by step {}: {e}; {} was not written (it still holds the last \
             good checkpoint, if any). Try a lower --lr or --style-weight",
            state.step,
            path.display()
        )
    })?;
    let mut md = HashMap::new();
    md.insert("format".into(), CHECKPOINT_FORMAT.into());
    md.insert("state".into(), serde_json::to_string(state)?);
    md.insert("adam_t".into(), adam.t.to_string());
    let bytes = serialize_tensors(&tensors, md)?;
    stylecast::atomic_write(path, &bytes)
        .with_context(|| format!("writing checkpoint {}", path.display()))?;
    Ok(())
}

pub struct Loaded {
    pub state: CheckpointState,
    pub adam_t: u64,
    pub params: HashMap<String, Tensor>,
    pub m: HashMap<String, Tensor>,
    pub v: HashMap<String, Tensor>,
}

/// The model a checkpoint holds, as of its step: for trying a run's current state on a
/// device without finishing (or resuming) it. Its metadata says it came from a checkpoint.
pub fn to_model(path: &Path) -> Result<ModelFile> {
    let c = load(path, &Device::Cpu)?;
    let o = &c.state.options;
    stylecast::io::model_file::validate(&c.params, &o.net, path)
        .with_context(|| format!("{}: checkpoint weights", path.display()))?;
    let mut training = run_metadata(o, c.state.step, c.state.init.as_ref());
    training.insert(
        "from_checkpoint".into(),
        serde_json::json!(path.file_name().map(|n| n.to_string_lossy().into_owned())),
    );
    if c.state.seconds > 0.0 {
        training.insert("seconds".into(), serde_json::json!(c.state.seconds));
    }
    let mut meta = model_meta(o);
    meta.training = Some(training.into());
    Ok(ModelFile {
        meta,
        tensors: c.params,
    })
}

/// Whether `path` is a training checkpoint (by its metadata; unreadable files are not).
pub fn is_checkpoint(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    safetensors::SafeTensors::read_metadata(&bytes).is_ok_and(|(_, h)| {
        h.metadata()
            .as_ref()
            .and_then(|m| m.get("format"))
            .is_some_and(|f| f == CHECKPOINT_FORMAT)
    })
}

pub fn load(path: &Path, device: &Device) -> Result<Loaded> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: cannot read checkpoint", path.display()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not a checkpoint (not safetensors or truncated: {e})",
            path.display()
        )
    })?;
    let md = header.metadata().clone().unwrap_or_default();
    if md.get("format").map(String::as_str) != Some(CHECKPOINT_FORMAT) {
        bail!(
            "{}: not a stylecast checkpoint (a model file? use it with edge-runtime instead)",
            path.display()
        );
    }
    let state: CheckpointState =
        serde_json::from_str(md.get("state").map(String::as_str).unwrap_or(""))
            .with_context(|| format!("{}: bad checkpoint state", path.display()))?;
    let adam_t = md
        .get("adam_t")
        .and_then(|t| t.parse().ok())
        .unwrap_or(state.step);
    let all = candle_core::safetensors::load_buffer(&bytes, device)
        .map_err(|e| anyhow::anyhow!("{}: corrupt checkpoint: {e}", path.display()))?;
    check_finite(&all, path).map_err(|e| {
        anyhow::anyhow!("{e}: a diverged run's checkpoint, it cannot be resumed or exported")
    })?;
    let (mut params, mut m, mut v) = (HashMap::new(), HashMap::new(), HashMap::new());
    for (k, t) in all {
        if let Some(n) = k.strip_prefix("param.") {
            params.insert(n.to_string(), t);
        } else if let Some(n) = k.strip_prefix("adam_m.") {
            m.insert(n.to_string(), t);
        } else if let Some(n) = k.strip_prefix("adam_v.") {
            v.insert(n.to_string(), t);
        }
    }
    Ok(Loaded {
        state,
        adam_t,
        params,
        m,
        v,
    })
}
