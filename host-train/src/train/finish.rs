//! The end of a finished run: the last checkpoint, the f32 model with its `training`
//! metadata and its f16 copy for devices, the final preview and the loss curve.

use std::sync::atomic::Ordering;

use anyhow::Result;
use candle_core::DType;
use stylecast::ModelFile;

use super::outcome::Outcome;
use super::setup::Run;
use crate::options::TrainOptions;
use crate::options::CURVE_FILE;
use crate::plot::save_loss_curve;
use crate::weights::{model_meta, run_metadata};

/// A multi-style run's styles for the metadata: name, image file and SHA-256 each.
fn styles_metadata(opts: &TrainOptions, hashes: &[String]) -> serde_json::Value {
    let name = |p: &std::path::Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    opts.style_names()
        .iter()
        .zip(opts.style_paths())
        .zip(hashes)
        .map(|((n, p), h)| serde_json::json!({ "name": n, "image": name(p), "sha256": h }))
        .collect()
}

impl Run {
    pub(super) fn finish(self) -> Result<Outcome> {
        let opts = &self.opts;
        self.save_checkpoint(self.total)?;
        let mut training = run_metadata(opts, self.total, self.init.as_ref());
        if opts.is_multi() {
            training.insert("styles".into(), styles_metadata(opts, &self.style_hashes));
        }
        if let serde_json::Value::Object(end) = serde_json::json!({
            "style_sha256": self.style_hashes[0],
            "dataset_images": self.ds.len(),
            "skipped_images": self.ds.skipped_count.load(Ordering::Relaxed),
            "final": self.last,
            "vgg": self.vgg_path.file_name().map(|n| n.to_string_lossy().into_owned()),
            "seconds": self.seconds(),
        }) {
            training.extend(end);
        }
        let mut meta = model_meta(opts);
        meta.training = Some(training.into());
        let mf = ModelFile {
            meta,
            tensors: self.model.weights(),
        };
        mf.save(&opts.out)?;
        mf.to_dtype(DType::F16)?.save(&opts.f16_path())?;
        self.save_preview("preview-final.png")?;
        if !self.log.history().is_empty() {
            save_loss_curve(self.log.history(), &opts.run_dir().join(CURVE_FILE))?;
        }
        Ok(Outcome::Finished {
            steps: self.total,
            last: self.last,
            ended_by: self.ended_by,
        })
    }
}
