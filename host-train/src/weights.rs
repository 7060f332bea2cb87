//! Model files as training writes and reads them: the `training` metadata a run records
//! (and what later runs and `eval` read back from it), and a model's weights as the
//! starting point of a run (`--init`).

use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::Device;
use serde_json::{Map, Value};
use stylecast::{ModelFile, ModelMeta, NetConfig};

use crate::loss::LossConfig;
use crate::model::Trainable;
use crate::options::TrainOptions;
use crate::stability::StabilityConfig;

/// What a model's `training` metadata says of the run that made it after `steps` steps:
/// the options that shaped it and where its weights started (the end of a run adds the
/// style image's hash, the final losses and timings).
pub fn run_metadata(opts: &TrainOptions, steps: u64, init: Option<&Value>) -> Map<String, Value> {
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
        Value::Object(m) => m,
        _ => unreachable!("a json! object literal"),
    }
}

/// The metadata of a run's model, before its `training` record: a one-style model named
/// `style_name`; a multi-style one named after the output file, its styles after their
/// images.
pub fn model_meta(opts: &TrainOptions) -> ModelMeta {
    if opts.is_multi() {
        let collection = opts
            .out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "styles".into());
        ModelMeta::with_styles(collection, opts.net, opts.style_names())
    } else {
        ModelMeta::new(&opts.style_name, opts.net)
    }
}

/// The loss settings a model's metadata records (`training.loss`), if any.
pub fn recorded_loss(training: Option<&Value>) -> Option<serde_json::Result<LossConfig>> {
    training
        .and_then(|t| t.get("loss"))
        .map(|l| serde_json::from_value(l.clone()))
}

/// The stability settings a model's metadata records (`training.stability`; `None`: not
/// recorded or unreadable).
pub fn recorded_stability(training: Option<&Value>) -> Option<StabilityConfig> {
    training
        .and_then(|t| t.get("stability"))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// The style size a model's metadata records (`training.style_size`; `None`: as is, or
/// not recorded).
pub fn recorded_style_size(training: Option<&Value>) -> Option<u32> {
    training
        .and_then(|t| t.get("style_size"))
        .and_then(|v| v.as_u64())
        .map(|s| s as u32)
}

/// Loads `path`'s weights into `model` (f32 or f16 files; a network shape other than
/// `net` is an error) and describes it for the metadata: file, style, prior steps, and
/// its own training record, so a model trained in stages keeps the history of each.
pub fn init_from_model(model: &Trainable, path: &Path, net: &NetConfig) -> Result<Value> {
    let mf = ModelFile::load(path, &Device::Cpu)
        .with_context(|| format!("--init {}", path.display()))?;
    if mf.meta.config.with_styles(1) == net.with_styles(1) && mf.meta.config.styles != net.styles {
        bail!(
            "--init {}: this model holds {} style(s), the run trains {}; to add a style to a \
             trained model, use `host-train add-style`",
            path.display(),
            mf.meta.config.styles,
            net.styles
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vgg::VggLayer;

    #[test]
    fn the_recorded_settings_read_back() {
        let opts = TrainOptions {
            style: "paintings/wave.jpg".into(),
            style_name: "wave".into(),
            more_styles: Vec::new(),
            dataset: "photos".into(),
            out: "wave.safetensors".into(),
            epochs: 2,
            max_steps: None,
            batch_size: 4,
            lr: 1e-3,
            image_size: 256,
            style_size: Some(384),
            loss: LossConfig {
                style_weight: 4e9,
                content_layer: VggLayer::Relu2_2,
                ..LossConfig::default()
            },
            net: NetConfig::small(),
            seed: 1,
            checkpoint_every: 500,
            preview_every: 0,
            preview_image: None,
            vgg: None,
            device: "cpu".into(),
            progress: false,
            time_limit: None,
            init: None,
            warmup_steps: Some(0),
            stability: StabilityConfig {
                weight: 3e4,
                ..StabilityConfig::default()
            },
        };
        let init = serde_json::json!({ "steps": 100 });
        let t: Value = run_metadata(&opts, 40, Some(&init)).into();
        assert_eq!(t["total_steps"], 140);
        assert_eq!(t["style_image"], "wave.jpg");
        assert_eq!(recorded_loss(Some(&t)).unwrap().unwrap(), opts.loss);
        assert_eq!(recorded_stability(Some(&t)), Some(opts.stability));
        assert_eq!(recorded_style_size(Some(&t)), Some(384));
        assert!(recorded_loss(None).is_none());
        assert_eq!(recorded_style_size(Some(&serde_json::json!({}))), None);
    }
}
