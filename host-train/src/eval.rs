//! `host-train eval`: how much of the photo and how much of the painting a trained model
//! keeps, measured with the training losses on photos it did not train on. The numbers
//! behind choosing a style weight: the content loss says how far the output is from the
//! photo (comparable across styles: the same photos, the same VGG layer), the style loss
//! how far its Gram matrices are from its painting's.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor};
use serde::Serialize;
use stylecast::io::image::{image_to_tensor, images_in, load_rgb};
use stylecast::{ModelFile, Precision, StyleMix, Stylizer};

use crate::data::center_square;
use crate::loss::{perceptual_losses, scalar, LossConfig, StyleTarget};
use crate::stability::{self, perturb, EVAL_NOISE, EVAL_SHIFTS};
use crate::style::load_style;
use crate::vgg::{resolve_weights, Vgg16};
use crate::weights::{recorded_loss, recorded_style_size};

/// What to score and against what (the flags of `host-train eval`).
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Model files (.safetensors, f32 or f16), or folders of them.
    pub models: Vec<PathBuf>,
    /// Photos to score on, searched recursively: ones the models did not train on.
    pub photos: PathBuf,
    /// Folder of the paintings: each model's is the file its metadata names
    /// (training.style_image), else STYLE.jpg/.jpeg/.png/.webp after its style name.
    pub styles: PathBuf,
    /// Each photo is scaled so its short side is this, then cropped to the centre square.
    pub size: u32,
    /// The painting's longer side in pixels [default: the model's training style size].
    pub style_size: Option<u32>,
    /// VGG-16 weights, as for training.
    pub vgg: Option<PathBuf>,
    /// cpu, cuda or cuda:N.
    pub device: String,
    /// Also write the scores to this JSON file.
    pub json: Option<PathBuf>,
}

/// One model's mean losses over the photos (unweighted terms, as the conformance
/// README defines them), and the weights it was trained with.
#[derive(Debug, Clone, Serialize)]
pub struct Score {
    pub model: PathBuf,
    /// The style's index in a multi-style file (each of its styles is scored on its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style_index: Option<usize>,
    pub style: String,
    /// Training steps including any `--init` model's (none for imported models).
    pub steps: Option<u64>,
    pub painting: PathBuf,
    /// Whether the painting is the file the model was trained on (by SHA-256; `None` when
    /// the metadata has no hash).
    pub painting_matches: Option<bool>,
    /// The model's training loss weights and layers (defaults when it records none).
    pub loss: LossConfig,
    pub photos: usize,
    pub content: f64,
    pub style_loss: f64,
    pub tv: f64,
    /// Mean absolute change, 0-255 levels, of the output when the photo moves by a pixel
    /// or two and gains 2 levels of noise, compared aligned (`stability::EVAL_SHIFTS`):
    /// how much a still scene swims on a live camera. The photo itself changes by 0.
    pub flicker: f64,
}

impl Score {
    /// Weighted style over weighted content, with the model's own weights: the balance
    /// its training pushed towards (above 1: the style term dominated).
    pub fn balance(&self) -> f64 {
        self.style_loss * self.loss.style_weight / (self.content * self.loss.content_weight)
    }
}

/// A model's styles, each as a one-style model: the file itself for one style; for a
/// multi-style file every style resolved, its training record pointing at that style's own
/// painting and hash (`training.styles`), so each is scored against its painting.
fn styles_of(model: &ModelFile) -> Result<Vec<(Option<usize>, ModelFile)>> {
    let n = model.meta.config.styles;
    if n <= 1 {
        return Ok(vec![(None, model.clone())]);
    }
    (0..n)
        .map(|i| {
            let mut one = model.resolve_style(&StyleMix::single(i, n)?)?;
            let recorded = model
                .meta
                .training
                .as_ref()
                .and_then(|t| t.get("styles"))
                .and_then(|v| v.get(i))
                .cloned();
            if let Some(serde_json::Value::Object(t)) = one.meta.training.as_mut() {
                // The file's style_image/hash are its first style's; this style's replace them.
                t.remove("style_image");
                t.remove("style_sha256");
                if let Some(r) = recorded {
                    if let Some(img) = r.get("image") {
                        t.insert("style_image".into(), img.clone());
                    }
                    if let Some(h) = r.get("sha256") {
                        t.insert("style_sha256".into(), h.clone());
                    }
                }
            }
            Ok((Some(i), one))
        })
        .collect()
}

fn photo_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        bail!("{}: photo folder not found", dir.display());
    }
    Ok(images_in(dir)?)
}

/// Scores every model on every photo.
pub fn evaluate(o: &EvalOptions) -> Result<Vec<Score>> {
    // 32: the flicker measure compares the interior, less its margins and shifts.
    if o.size < 32 || !o.size.is_multiple_of(4) {
        bail!("--size {} must be a multiple of 4, at least 32", o.size);
    }
    let device = stylecast::parse_device(&o.device)?;
    let vgg = Vgg16::load(&resolve_weights(o.vgg.as_deref())?, &device)?;
    let models = stylecast::io::model_file::expand_model_paths(&o.models)?;
    let photos = photo_files(&o.photos)?
        .iter()
        .map(|p| {
            let img = center_square(&load_rgb(p)?, o.size);
            Ok(image_to_tensor(&img, &device, DType::F32)?)
        })
        .collect::<Result<Vec<Tensor>>>()?;
    let pb = indicatif::ProgressBar::new((models.len() * photos.len()) as u64);
    let mut scores = Vec::new();
    let units = models
        .iter()
        .map(|path| Ok((path, ModelFile::load(path, &device)?)))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .map(|(path, m)| Ok(styles_of(&m)?.into_iter().map(move |(i, m)| (path, i, m))))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    pb.set_length((units.len() * photos.len()) as u64);
    for (path, style_index, model) in units {
        let training = model.meta.training.as_ref();
        let field = |k: &str| training.and_then(|t| t.get(k));
        let loss = match recorded_loss(training) {
            Some(l) => l.with_context(|| {
                format!(
                    "{}: unreadable training.loss in its metadata",
                    path.display()
                )
            })?,
            None => LossConfig::default(),
        };
        let Some(painting) = model.meta.find_painting(&o.styles) else {
            bail!(
                "{}: its painting is not in {} (looked for {}); pass --styles with the folder of paintings",
                path.display(),
                o.styles.display(),
                model.meta.painting_names().join(", ")
            );
        };
        let style_size = o.style_size.or_else(|| recorded_style_size(training));
        let (style_img, hash) = load_style(&painting, style_size, &device)?;
        let target = StyleTarget::new(&vgg, &style_img, &loss)?;
        // f32 compute whatever the file's dtype: the losses of the weights, not of f16 rounding.
        let net = Stylizer::from_model(&model, &device, Precision::F32)?;
        let (mut content, mut style_loss, mut tv, mut flicker) = (0.0, 0.0, 0.0, 0.0);
        for (i, x) in photos.iter().enumerate() {
            let y = net.net().forward_raw(x)?;
            let l = perceptual_losses(&vgg, &loss, &target, x, &y)?;
            content += scalar(&l.content)?;
            style_loss += scalar(&l.style)?;
            tv += scalar(&l.tv)?;
            for (k, shift) in EVAL_SHIFTS.iter().enumerate() {
                // The same noise for every model: a fixed seed per photo and shift.
                let x2 = perturb(x, *shift, EVAL_NOISE, (i * EVAL_SHIFTS.len() + k) as u64)?;
                flicker += stability::flicker(&y, &net.net().forward_raw(&x2)?, *shift)?
                    / EVAL_SHIFTS.len() as f64;
            }
            pb.inc(1);
        }
        let n = photos.len() as f64;
        scores.push(Score {
            model: path.clone(),
            style_index,
            style: model.meta.style.clone(),
            steps: field("total_steps")
                .or_else(|| field("steps"))
                .and_then(|v| v.as_u64()),
            painting,
            painting_matches: field("style_sha256")
                .and_then(|v| v.as_str())
                .map(|h| h == hash),
            loss,
            photos: photos.len(),
            content: content / n,
            style_loss: style_loss / n,
            tv: tv / n,
            flicker: flicker / n,
        });
    }
    pb.finish_and_clear();
    Ok(scores)
}

/// The scores as a table, one model per line.
pub fn table(scores: &[Score]) -> String {
    let mut s = format!(
        "{:<28} {:>6} {:>12} {:>12} {:>12} {:>9} {:>8}\n",
        "model", "steps", "style weight", "content", "style", "balance", "flicker"
    );
    for r in scores {
        let file = r
            .model
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        let name = match r.style_index {
            Some(_) => format!("{file}:{}", r.style),
            None => file.into_owned(),
        };
        s += &format!(
            "{:<28} {:>6} {:>12.1e} {:>12.4e} {:>12.4e} {:>9.2} {:>8.2}{}\n",
            name,
            r.steps.map(|v| v.to_string()).unwrap_or_else(|| "-".into()),
            r.loss.style_weight,
            r.content,
            r.style_loss,
            r.balance(),
            r.flicker,
            if r.painting_matches == Some(false) {
                "  (painting file differs by SHA-256 from the one trained on)"
            } else {
                ""
            }
        );
    }
    s
}

/// What the photo table's columns mean, printed under it.
pub fn legend(photos: usize, size: u32) -> String {
    format!(
        "content, style: unweighted mean losses over {photos} photos at {size}x{size} (content: how far from the photo, \
         comparable across models; style: how far from its own painting). balance: weighted style / weighted \
         content with the model's own weights. flicker: mean change (0-255) of the output, aligned, when \
         the photo moves by 1-2 pixels with 2 levels of noise: how much a live picture swims."
    )
}

pub fn run(o: &EvalOptions) -> Result<()> {
    let scores = evaluate(o)?;
    print!("{}", table(&scores));
    println!("{}", legend(scores.first().map_or(0, |s| s.photos), o.size));
    if let Some(j) = &o.json {
        stylecast::atomic_write(j, serde_json::to_string_pretty(&scores)?.as_bytes())
            .with_context(|| format!("writing {}", j.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use stylecast::{ModelMeta, NetConfig};

    #[test]
    fn each_style_of_a_multi_file_is_scored_against_its_own_painting() {
        let config = NetConfig {
            channels: [4, 6, 8],
            residual_blocks: 1,
            styles: 2,
        };
        let tensors = config
            .param_shapes()
            .into_iter()
            .map(|(n, s)| (n, Tensor::randn(0f32, 0.5, s, &Device::Cpu).unwrap()))
            .collect();
        let mut meta = ModelMeta::with_styles("duo", config, vec!["wave".into(), "scream".into()]);
        meta.training = Some(serde_json::json!({
            "style_image": "wave.jpg", "style_sha256": "aa", "steps": 7,
            "styles": [
                {"name": "wave", "image": "wave.jpg", "sha256": "aa"},
                {"name": "scream", "image": "the_scream.png", "sha256": "bb"},
            ],
        }));
        let m = ModelFile { meta, tensors };
        let units = styles_of(&m).unwrap();
        assert_eq!(units.len(), 2);
        let (i, second) = &units[1];
        assert_eq!(*i, Some(1));
        assert_eq!(second.meta.style, "scream");
        assert_eq!(second.meta.config.styles, 1);
        assert_eq!(second.meta.painting_names()[0], "the_scream.png");
        let t = second.meta.training.as_ref().unwrap();
        assert_eq!(
            (t["style_sha256"].as_str(), t["steps"].as_u64()),
            (Some("bb"), Some(7))
        );
        // Without a per-style record, the painting is looked up by the style's name.
        let mut bare = m.clone();
        bare.meta.training = Some(serde_json::json!({"style_image": "wave.jpg"}));
        let (_, s) = &styles_of(&bare).unwrap()[1];
        assert_eq!(s.meta.painting_names()[0], "scream.jpg");
        // A one-style file is itself.
        let one = m.resolve_style(&StyleMix::single(0, 2).unwrap()).unwrap();
        assert_eq!(styles_of(&one).unwrap()[0].0, None);
    }
}
