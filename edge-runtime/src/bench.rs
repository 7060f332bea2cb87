//! `edge-runtime bench`: milliseconds per frame of the network at common sizes.

use std::time::Instant;

use anyhow::Result;
use candle_core::{Device, Tensor};
use stylecast::{ModelFile, Precision, Stylizer};

pub struct BenchArgs {
    pub sizes: Vec<(usize, usize)>,
    pub reps: usize,
    pub warmup: usize,
    pub device: Device,
    pub precisions: Vec<Precision>,
    pub f16_weights: bool,
    pub border_pad: u32,
}

pub fn run(model: &ModelFile, a: &BenchArgs) -> Result<()> {
    let threads = candle_core::utils::get_num_threads();
    println!(
        "# stylecast inference benchmark: device {:?}, {} threads, network {:?}, batch 1, {} reps after {} warm-ups, border pad {}",
        a.device, threads, model.meta.config, a.reps, a.warmup, a.border_pad
    );
    println!("| size | weights | compute | ms/frame (median) | min | GMAC/s |");
    println!("|---|---|---|---|---|---|");
    for &(w, h) in &a.sizes {
        let x = Tensor::rand(0f32, 255f32, (1, 3, h, w), &Device::Cpu)?;
        for &p in &a.precisions {
            let weights = if a.f16_weights {
                model.to_dtype(candle_core::DType::F16)?
            } else {
                model.clone()
            };
            let s = Stylizer::from_model(&weights, &a.device, p)?;
            let x = x.to_device(&a.device)?.to_dtype(p.dtype())?;
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
            println!(
                "| {w}x{h} | {} | {:?} | {med:.1} | {:.1} | {gmacs:.1} |",
                if a.f16_weights { "f16" } else { "f32" },
                p,
                times[0]
            );
        }
    }
    Ok(())
}
