//! `host-train add-style`: a new style for a trained network, by training only its
//! instance norms' scales and shifts (Dumoulin et al. 2017: the convolutions every style
//! shares stay as they are).
//!
//! The shared weights (every convolution and every existing style's scale and shift) are
//! plain tensors, not variables, so the backward pass computes no gradient for them: the
//! convolutions' gradient op skips the kernel gradient of an untracked weight, and only
//! the activations' gradients flow back to the new style's rows. The new style starts from
//! the mean of the existing styles, or from the one whose style loss on the new painting
//! is lowest (`nearest`), and the result is the base's styles plus the new one.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;
use serde::Serialize;
use stylecast::{ModelFile, ModelMeta, NetConfig, TransformerNet};

use crate::adam::{Adam, AdamConfig};
use crate::data::{batch_tensor, Dataset, Prefetcher};
use crate::loss::{perceptual_losses, scalar, LossConfig, StyleTarget};
use crate::options::style_stem;
use crate::style::load_style;
use crate::train::progress::{progress_bar, say};
use crate::vgg::{resolve_weights, Vgg16};

/// The default learning rate of the new style's scales and shifts: higher than training's,
/// since only they move and nothing shared can be disturbed (the measurement behind it:
/// README, "Add a style").
pub const DEFAULT_LR: f64 = 3e-2;

/// Photos the `nearest` start scores each existing style on.
const NEAREST_PHOTOS: u64 = 4;

/// Where the new style's scales and shifts start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Start {
    /// The mean of the existing styles' rows.
    Mean,
    /// The existing style whose output is closest to the new painting (lowest style loss).
    Nearest,
}

/// What `host-train add-style` does (its flags, settled).
#[derive(Debug, Clone)]
pub struct AddStyleOptions {
    /// The trained model (one style or several) whose convolutions the new style shares.
    pub base: PathBuf,
    /// The new painting.
    pub style: PathBuf,
    /// The model to write (f32), with the f16 copy beside it as NAME.f16.safetensors.
    pub out: PathBuf,
    /// The new style's name [default: the painting's file stem].
    pub name: Option<String>,
    pub start: Start,
    pub steps: u64,
    pub time_limit: Option<f64>,
    pub dataset: PathBuf,
    pub image_size: u32,
    pub batch_size: usize,
    pub lr: f64,
    pub style_size: Option<u32>,
    pub loss: LossConfig,
    pub seed: u64,
    pub vgg: Option<PathBuf>,
    pub device: String,
    pub progress: bool,
    /// Also write each step's losses and the seconds so far to this file, one JSON object
    /// a line (the time-to-loss curve).
    pub log: Option<PathBuf>,
}

impl AddStyleOptions {
    /// `NAME.safetensors` -> `NAME.f16.safetensors`.
    pub fn f16_path(&self) -> PathBuf {
        let stem = style_stem(&self.out);
        self.out.with_file_name(format!("{stem}.f16.safetensors"))
    }
}

/// How a run went.
#[derive(Debug, Clone)]
pub struct AddStyleOutcome {
    pub steps: u64,
    /// The styles of the written model, the new one last.
    pub names: Vec<String>,
    /// Which existing style the new one started from (`None`: the mean).
    pub started_from: Option<String>,
    /// The weighted style loss, mean over the first and over the last tenth of the steps.
    pub first_style: f64,
    pub last_style: f64,
    pub seconds: f64,
}

/// Reads a base model, naming the file when it is not one.
pub fn load_base(path: &Path) -> Result<ModelFile> {
    if crate::checkpoint::is_checkpoint(path) {
        bail!(
            "{}: a training checkpoint, not a model: export it first (`host-train export {} \
             MODEL.safetensors`) or give the finished model",
            path.display(),
            path.display()
        );
    }
    ModelFile::load(path, &Device::Cpu).with_context(|| {
        format!(
            "add-style: {} is not a usable stylecast model",
            path.display()
        )
    })
}

/// The base model split into what stays fixed: the convolutions, and each instance norm's
/// bank of existing styles as `[S, C]` rows (a one-style model's `[C]` as one row); f32,
/// on the training device, values exactly the file's.
struct Base {
    config: NetConfig,
    convs: HashMap<String, Tensor>,
    banks: BTreeMap<String, Tensor>,
}

impl Base {
    fn split(mf: &ModelFile, device: &Device) -> Result<Self> {
        let config = mf.meta.config;
        let (mut convs, mut banks) = (HashMap::new(), BTreeMap::new());
        for (name, shape) in config.param_shapes() {
            let t = mf
                .tensors
                .get(&name)
                .with_context(|| format!("the base model lacks {name}"))?
                .to_dtype(DType::F32)?
                .to_device(device)?;
            if name.contains(".conv2d.") {
                convs.insert(name, t);
            } else {
                let c = *shape.last().expect("a norm has channels");
                banks.insert(name, t.reshape((config.styles, c))?);
            }
        }
        Ok(Self {
            config,
            convs,
            banks,
        })
    }

    /// A one-style network of the shared convolutions and the norms `rows` (`[C]` each,
    /// by parameter name). Nothing of it is a variable except what `rows` holds.
    fn net(&self, rows: &HashMap<String, Tensor>, device: &Device) -> Result<TransformerNet> {
        let mut tensors = self.convs.clone();
        tensors.extend(rows.iter().map(|(k, v)| (k.clone(), v.clone())));
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        Ok(TransformerNet::with_stat_dtype(
            vb,
            &self.config.with_styles(1),
            DType::F64,
        )?)
    }

    /// Row `s` of every bank.
    fn style_rows(&self, s: usize) -> Result<HashMap<String, Tensor>> {
        self.banks
            .iter()
            .map(|(k, b)| Ok((k.clone(), b.get(s)?)))
            .collect()
    }

    /// The mean of every bank's rows.
    fn mean_rows(&self) -> Result<HashMap<String, Tensor>> {
        self.banks
            .iter()
            .map(|(k, b)| Ok((k.clone(), b.mean(0)?)))
            .collect()
    }
}

/// The new style's name: given or the painting's stem, usable in a blend and not taken.
fn new_name(o: &AddStyleOptions, existing: &[String]) -> Result<String> {
    let name = o.name.clone().unwrap_or_else(|| style_stem(&o.style));
    if name.trim().is_empty() || name.contains([',', ':']) {
        bail!(
            "style name {name:?} is not allowed: no ',' or ':' (blends such as a:0.6,b:0.4 use \
             them); give another with --name"
        );
    }
    if existing.contains(&name) {
        bail!(
            "{} already holds a style named {name:?} (it holds {}): give the new one another \
             --name",
            o.base.display(),
            existing.join(", ")
        );
    }
    Ok(name)
}

/// Refuses outputs that would replace the base or are folders.
fn check_outputs(o: &AddStyleOptions) -> Result<()> {
    for p in [&o.out, &o.f16_path()] {
        if p.is_dir() {
            bail!(
                "--out {}: {} is a folder; give the model's file name",
                o.out.display(),
                p.display()
            );
        }
        let same = p == &o.base
            || matches!((p.canonicalize(), o.base.canonicalize()), (Ok(a), Ok(b)) if a == b);
        if same {
            bail!(
                "--out {}: that is the base model; write the new model to another file",
                o.out.display()
            );
        }
    }
    Ok(())
}

/// Adds the style: trains the new rows for `steps` steps (or until the time limit, or
/// `stop`), then writes the base's styles plus the new one, f32 and f16.
pub fn add_style(o: &AddStyleOptions, stop: &AtomicBool) -> Result<AddStyleOutcome> {
    let device = stylecast::parse_device(&o.device)?;
    let mf = load_base(&o.base)?;
    check_outputs(o)?;
    if !o.style.is_file() {
        bail!("{}: style image not found", o.style.display());
    }
    if o.batch_size == 0 || o.steps == 0 {
        bail!("--steps and --batch-size must be at least 1");
    }
    let mut names = mf.names();
    let name = new_name(o, &names)?;
    let base = Base::split(&mf, &device)?;
    let vgg_path = resolve_weights(o.vgg.as_deref())?;
    let vgg = Vgg16::load(&vgg_path, &device)?;
    let (style_img, style_hash) = load_style(&o.style, o.style_size, &device)?;
    let target = StyleTarget::new(&vgg, &style_img, &o.loss)?;
    let ds = Arc::new(Dataset::scan(&o.dataset, o.image_size, o.seed)?);

    let (start_rows, started_from, nearest_scores) = match o.start {
        Start::Mean => (base.mean_rows()?, None, Vec::new()),
        Start::Nearest => {
            let scores = nearest_scores(&base, &vgg, &o.loss, &target, &ds, &device)?;
            let best = (0..scores.len())
                .min_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                .expect("a model holds at least one style");
            (base.style_rows(best)?, Some(names[best].clone()), scores)
        }
    };
    let vars: BTreeMap<String, Var> = start_rows
        .iter()
        .map(|(k, t)| Ok((k.clone(), Var::from_tensor(t)?)))
        .collect::<Result<_>>()?;
    let rows: HashMap<String, Tensor> = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let net = base.net(&rows, &device)?;
    let mut adam = Adam::new(
        vars.iter().map(|(k, v)| (k.clone(), v.clone())),
        AdamConfig {
            lr: o.lr,
            ..Default::default()
        },
    )?;

    let pb = progress_bar(o.steps, 0, o.progress);
    let say = |m: String| say(&pb, m);
    if let Some(from) = &started_from {
        let list: Vec<String> = names
            .iter()
            .zip(&nearest_scores)
            .map(|(n, s)| format!("{n} {s:.3e}"))
            .collect();
        say(format!(
            "starting from {from}, the nearest style (style loss on the new painting: {})",
            list.join(", ")
        ));
    }
    say(format!(
        "training the instance norms of {name:?} ({} numbers; the {} shared convolution \
         tensors and {} existing style(s) stay fixed): {} steps of {} photos at {} px{}",
        rows.values().map(|t| t.elem_count()).sum::<usize>(),
        base.convs.len(),
        base.config.styles,
        o.steps,
        o.batch_size,
        o.image_size,
        o.time_limit
            .map(|l| format!(", or {l} s"))
            .unwrap_or_default()
    ));
    let pf = Prefetcher::start(ds.clone(), o.batch_size, 0, o.steps, 4);
    let clock = Instant::now();
    let mut styles_seen = Vec::new();
    let mut log = String::new();
    let mut done = 0;
    for step in 0..o.steps {
        let (_, x) = pf.next()?;
        let x = x.to_device(&device)?;
        let y = net.forward_raw(&x)?;
        let l = perceptual_losses(&vgg, &o.loss, &target, &x, &y)?;
        let total = scalar(&l.total)?;
        if !total.is_finite() {
            pb.abandon();
            bail!("loss became {total} at step {}: try a lower --lr", step + 1);
        }
        let grads = l.total.backward()?;
        adam.step(&grads)?;
        let style = scalar(&l.style)? * o.loss.style_weight;
        styles_seen.push(style);
        done = step + 1;
        if o.log.is_some() {
            log.push_str(&serde_json::to_string(&serde_json::json!({
                "step": done,
                "seconds": clock.elapsed().as_secs_f64(),
                "content": scalar(&l.content)? * o.loss.content_weight,
                "style": style,
                "total": total,
            }))?);
            log.push('\n');
        }
        pb.set_position(done);
        pb.set_message(format!(
            "style {style:.3e}  content {:.3e}  {:.0} ms/step",
            scalar(&l.content)? * o.loss.content_weight,
            clock.elapsed().as_secs_f64() * 1e3 / done as f64
        ));
        if stop.load(Ordering::SeqCst) {
            say(format!("stopped at step {done}; writing the model"));
            break;
        }
        if o.time_limit
            .is_some_and(|t| clock.elapsed().as_secs_f64() >= t)
            && done < o.steps
        {
            say(format!(
                "time limit reached at step {done}; writing the model"
            ));
            break;
        }
    }
    pb.finish();
    let seconds = clock.elapsed().as_secs_f64();
    if let Some(p) = &o.log {
        stylecast::atomic_write(p, log.as_bytes())
            .with_context(|| format!("writing {}", p.display()))?;
    }

    // The base's rows, untouched, and the new one after them.
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for (k, t) in &base.convs {
        tensors.insert(k.clone(), t.to_device(&Device::Cpu)?);
    }
    for (k, bank) in &base.banks {
        let new = vars[k].as_tensor().detach().unsqueeze(0)?;
        let all = Tensor::cat(&[bank, &new], 0)?.to_device(&Device::Cpu)?;
        tensors.insert(k.clone(), all);
    }
    names.push(name.clone());
    let config = base.config.with_styles(names.len());
    let mut meta = ModelMeta::with_styles(style_stem(&o.out), config, names.clone());
    // Means over the first and the last tenth of the steps: one batch is noisy.
    let tenth = (styles_seen.len() / 10).max(1);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let first_style = mean(&styles_seen[..tenth]);
    let last_style = mean(&styles_seen[styles_seen.len() - tenth..]);
    let file = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    meta.training = Some(serde_json::json!({
        // What later runs read back (`--init` defaults, eval): this run's loss settings.
        "loss": o.loss,
        "style_size": o.style_size,
        "add_style": {
            "base": file(&o.base),
            "base_styles": mf.names(),
            "style": name,
            "style_image": file(&o.style),
            "style_sha256": style_hash,
            "start": o.start,
            "started_from": started_from,
            "steps": done,
            "batch_size": o.batch_size,
            "image_size": o.image_size,
            "lr": o.lr,
            "seed": o.seed,
            "dataset": file(&o.dataset),
            "dataset_images": ds.len(),
            "vgg": file(&vgg_path),
            "device": o.device,
            "first_style_loss": first_style,
            "final_style_loss": last_style,
            "seconds": seconds,
        },
        // The base's own record (and so, nested, every earlier stage's).
        "base_training": mf.meta.training,
    }));
    let out = ModelFile { meta, tensors };
    stylecast::io::model_file::validate(&out.tensors, &config, &o.out)
        .with_context(|| format!("{}: the new model", o.out.display()))?;
    out.save(&o.out)
        .with_context(|| format!("writing {}", o.out.display()))?;
    out.to_dtype(DType::F16)?
        .save(&o.f16_path())
        .with_context(|| format!("writing {}", o.f16_path().display()))?;
    Ok(AddStyleOutcome {
        steps: done,
        names,
        started_from,
        first_style,
        last_style,
        seconds,
    })
}

/// Each existing style's weighted style loss against the new painting's targets, on the
/// first few training photos: one forward pass each, no gradients.
fn nearest_scores(
    base: &Base,
    vgg: &Vgg16,
    loss: &LossConfig,
    target: &StyleTarget,
    ds: &Dataset,
    device: &Device,
) -> Result<Vec<f64>> {
    let order = |e| Arc::new(ds.epoch_order(e));
    let photos = (0..NEAREST_PHOTOS.min(ds.len() as u64))
        .map(|g| ds.sample(g, &order))
        .collect::<Result<Vec<_>>>()?;
    let x = batch_tensor(&photos)?.to_device(device)?;
    (0..base.config.styles)
        .map(|s| {
            let net = base.net(&base.style_rows(s)?, device)?;
            let y = net.forward_raw(&x)?;
            let l = perceptual_losses(vgg, loss, target, &x, &y)?;
            Ok(scalar(&l.style)? * loss.style_weight)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small two-style model with distinct rows, as a file would hold it.
    fn two_style_model() -> ModelFile {
        let cfg = NetConfig::small().with_styles(2);
        let m = crate::model::Trainable::new(&cfg, &Device::Cpu, 5).unwrap();
        let mut tensors = m.weights();
        for (k, t) in tensors.iter_mut() {
            if !k.contains(".conv2d.") {
                *t = Tensor::randn(0f32, 1.0, t.shape(), &Device::Cpu).unwrap();
            }
        }
        ModelFile {
            meta: ModelMeta::with_styles("pair", cfg, vec!["a".into(), "b".into()]),
            tensors,
        }
    }

    /// The shared weights are not variables: a step's backward gives gradients to the new
    /// rows only, none to a convolution, and the network follows Adam's updates.
    #[test]
    fn only_the_new_rows_get_gradients() {
        let dev = Device::Cpu;
        let base = Base::split(&two_style_model(), &dev).unwrap();
        let vars: HashMap<String, Var> = base
            .mean_rows()
            .unwrap()
            .into_iter()
            .map(|(k, t)| (k, Var::from_tensor(&t).unwrap()))
            .collect();
        let rows = vars
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        let net = base.net(&rows, &dev).unwrap();
        let x = Tensor::rand(0f32, 255., (2, 3, 32, 32), &dev).unwrap();
        let y0 = net.forward_raw(&x).unwrap();
        let grads = y0.sqr().unwrap().mean_all().unwrap().backward().unwrap();
        for (k, t) in &base.convs {
            assert!(grads.get(t).is_none(), "{k} got a gradient");
        }
        for (k, v) in &vars {
            assert!(grads.get(v.as_tensor()).is_some(), "{k} got no gradient");
        }
        let mut adam = Adam::new(
            vars.clone(),
            AdamConfig {
                lr: 0.1,
                ..Default::default()
            },
        )
        .unwrap();
        adam.step(&grads).unwrap();
        let y1 = net.forward_raw(&x).unwrap();
        let moved = (y1 - y0)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(moved > 1e-3, "the network did not see the update ({moved})");
    }

    #[test]
    fn the_mean_start_is_the_mean_of_the_rows_and_a_style_row_is_that_style() {
        let mf = two_style_model();
        let base = Base::split(&mf, &Device::Cpu).unwrap();
        let bank = &mf.tensors["in2.weight"];
        let mean = &base.mean_rows().unwrap()["in2.weight"];
        let want = ((bank.get(0).unwrap() + bank.get(1).unwrap()).unwrap() / 2.0).unwrap();
        let d = (mean - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-6, "{d}");
        let row1 = &base.style_rows(1).unwrap()["res1.in2.bias"];
        let want = mf.tensors["res1.in2.bias"].get(1).unwrap();
        assert_eq!(
            row1.to_vec1::<f32>().unwrap(),
            want.to_vec1::<f32>().unwrap()
        );
    }

    #[test]
    fn names_that_clash_or_cannot_be_blended_are_refused() {
        let o = AddStyleOptions {
            base: "pair.safetensors".into(),
            style: "paintings/b.jpg".into(),
            out: "out.safetensors".into(),
            name: None,
            start: Start::Mean,
            steps: 1,
            time_limit: None,
            dataset: "photos".into(),
            image_size: 64,
            batch_size: 1,
            lr: DEFAULT_LR,
            style_size: None,
            loss: LossConfig::default(),
            seed: 0,
            vgg: None,
            device: "cpu".into(),
            progress: false,
            log: None,
        };
        let existing = vec!["a".to_string(), "b".to_string()];
        let e = new_name(&o, &existing).unwrap_err().to_string();
        assert!(e.contains("already holds a style named \"b\""), "{e}");
        let named = |n: &str| AddStyleOptions {
            name: Some(n.into()),
            ..o.clone()
        };
        assert_eq!(new_name(&named("c"), &existing).unwrap(), "c");
        assert!(new_name(&named("c:1"), &existing).is_err());
        let e = check_outputs(&AddStyleOptions {
            out: "pair.safetensors".into(),
            ..o.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("that is the base model"), "{e}");
    }
}
