//! `edge-runtime bench`: milliseconds per frame of the network at common sizes, with no
//! camera or display, to compare devices, precisions and models; for a multi-style model,
//! also what a style switch (one step of a live morph) costs.

use std::time::Instant;

use anyhow::Result;
use candle_core::{Device, Tensor};
use stylecast::{ModelFile, Precision, StyleMix, Stylizer};

use crate::models::ModelChoice;
use crate::say;

/// The checked options of `bench`.
#[derive(Debug, Clone)]
pub struct BenchSettings {
    /// The first of these models is timed.
    pub model: ModelChoice,
    /// `--style`: the style or blend of a multi-style model to time; None: its first.
    pub style: Option<String>,
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
    // The style is checked (and its errors reported) before any timing.
    let probe = Stylizer::from_model(&model, &Device::Cpu, Precision::F32)?;
    let mix = crate::models::styles_of(&path, probe, s.style.as_deref())?
        .remove(0)
        .stylizer
        .style_mix()
        .clone();
    time_model(&model, &mix, &device, s)
}

/// Median milliseconds of `Stylizer::set_style` to a blend of every style (what a live
/// morph does once per frame), over `reps` switches after `warmup`.
fn time_style_switch(s: &mut Stylizer, reps: usize, warmup: usize) -> Result<f64> {
    let n = s.style_names().len();
    let a = StyleMix::single(0, n)?;
    let b = StyleMix::from_weights(vec![1.0; n])?;
    let mut times = Vec::with_capacity(reps);
    for i in 0..warmup + reps {
        let mix = a.lerp(&b, (i % 8) as f32 / 8.0 + 0.0625)?;
        let t = Instant::now();
        s.set_style(mix)?;
        // The mixed scales live on the device: wait for them as a frame would.
        s.device().synchronize()?;
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(times[times.len() / 2])
}

fn time_model(model: &ModelFile, mix: &StyleMix, device: &Device, a: &BenchSettings) -> Result<()> {
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
            let mut s = Stylizer::from_model(&weights, device, p)?;
            s.set_style(mix.clone())?;
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
                    "width": w, "height": h, "style": s.style_label(), "weights": weights,
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
    if model.meta.config.styles > 1 {
        let p = a.precisions[0];
        let mut s = Stylizer::from_model(model, device, p)?;
        let ms = time_style_switch(&mut s, a.reps.max(20), a.warmup.max(2))?;
        let n = model.meta.config.styles;
        if a.json {
            say::line(serde_json::json!({
                "style_switch": "set_style, a blend of every style", "styles": n,
                "compute": format!("{p:?}").to_lowercase(),
                "ms": (ms * 1000.0).round() / 1000.0,
            }));
        } else {
            say::line(format!(
                "# style switch (set_style to a blend of all {n} styles, one live morph step): {ms:.3} ms median, {p:?}"
            ));
        }
    }
    Ok(())
}
