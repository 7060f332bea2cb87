//! `edge-runtime bench`: milliseconds per frame of the network at common sizes, with no
//! camera or display, to compare devices, precisions and models.

use std::time::Instant;

use anyhow::Result;
use candle_core::{Device, Tensor};
use stylecast::{ModelFile, Precision, Stylizer};

use crate::models::ModelChoice;
use crate::say;

/// The checked options of `bench`.
#[derive(Debug, Clone)]
pub struct BenchSettings {
    /// The first of these models is timed.
    pub model: ModelChoice,
    pub sizes: Vec<(usize, usize)>,
    /// At least 1.
    pub reps: usize,
    pub warmup: usize,
    /// The `--device` spec, opened when the run starts.
    pub device: String,
    pub precisions: Vec<Precision>,
    pub f16_weights: bool,
    pub border_pad: u32,
    /// JSON lines on stdout instead of the table.
    pub json: bool,
}

pub fn run(s: &BenchSettings) -> Result<()> {
    let path = s.model.paths()?.remove(0);
    let device = stylecast::parse_device(&s.device)?;
    let model = ModelFile::load(&path, &Device::Cpu)?;
    time_model(&model, &device, s)
}

fn time_model(model: &ModelFile, device: &Device, a: &BenchSettings) -> Result<()> {
    let threads = candle_core::utils::get_num_threads();
    let header = format!(
        "# stylecast inference benchmark: device {:?}, {} threads, network {:?}, batch 1, {} reps after {} warm-ups, border pad {}",
        device, threads, model.meta.config, a.reps, a.warmup, a.border_pad
    );
    if a.json {
        eprintln!("{header}");
    } else {
        say::line(header);
        say::line("| size | weights | compute | ms/frame (median) | min | GMAC/s |");
        say::line("|---|---|---|---|---|---|");
    }
    for &(w, h) in &a.sizes {
        let x = Tensor::rand(0f32, 255f32, (1, 3, h, w), &Device::Cpu)?;
        for &p in &a.precisions {
            let weights = if a.f16_weights {
                model.to_dtype(candle_core::DType::F16)?
            } else {
                model.clone()
            };
            let s = Stylizer::from_model(&weights, device, p)?;
            let x = x.to_device(device)?.to_dtype(p.dtype())?;
            for _ in 0..a.warmup {
                s.forward_with_border(&x, a.border_pad)?
                    .to_device(&Device::Cpu)?;
            }
            let mut times = Vec::with_capacity(a.reps);
            for _ in 0..a.reps {
                let t = Instant::now();
                // Copying the result back synchronises the device.
                s.forward_with_border(&x, a.border_pad)?
                    .to_device(&Device::Cpu)?;
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            times.sort_by(|a, b| a.total_cmp(b));
            let med = times[times.len() / 2];
            let pad = 2 * a.border_pad as usize;
            let gmacs = model
                .meta
                .config
                .macs((h + pad).next_multiple_of(4), (w + pad).next_multiple_of(4))
                as f64
                / (med * 1e6);
            let weights = if a.f16_weights { "f16" } else { "f32" };
            if a.json {
                let round = |v: f64| (v * 100.0).round() / 100.0;
                say::line(serde_json::json!({
                    "width": w, "height": h, "style": model.meta.style, "weights": weights,
                    "compute": format!("{p:?}").to_lowercase(), "border_pad": a.border_pad,
                    "ms": round(med), "min_ms": round(times[0]), "gmac_per_s": round(gmacs),
                }));
            } else {
                say::line(format!(
                    "| {w}x{h} | {weights} | {p:?} | {med:.1} | {:.1} | {gmacs:.1} |",
                    times[0]
                ));
            }
        }
    }
    Ok(())
}
