//! `host-train bench`: milliseconds per training step on random data, the measure behind
//! the training figures in BENCHMARKS.md; no dataset needed, only VGG weights.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use candle_core::{Device, Tensor};
use stylecast::NetConfig;

use crate::adam::{Adam, AdamConfig};
use crate::loss::{perceptual_losses, LossConfig, StyleTarget};
use crate::model::Trainable;
use crate::vgg::{resolve_weights, Vgg16};

/// What to time (the flags of `host-train bench`).
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub batch_size: usize,
    pub image_size: usize,
    /// Timed steps.
    pub steps: usize,
    /// Untimed steps first (allocation, CUDA JIT and autotuning).
    pub warmup: usize,
    /// cpu, cuda or cuda:N.
    pub device: String,
    /// VGG-16 weights, as for `train` (a path, or hf).
    pub vgg: Option<PathBuf>,
    /// Also time each phase (forward, losses, backward, Adam).
    pub breakdown: bool,
}

/// Forces queued device work to finish so wall-clock phases are honest.
fn sync(t: &Tensor) -> Result<()> {
    t.to_device(&Device::Cpu)?;
    Ok(())
}

pub fn run(o: &BenchOptions) -> Result<()> {
    let device = stylecast::parse_device(&o.device)?;
    let vgg = Vgg16::load(&resolve_weights(o.vgg.as_deref())?, &device)?;
    let cfg = LossConfig::default();
    let style = Tensor::rand(0f32, 255f32, (1, 3, o.image_size, o.image_size), &device)?;
    let target = StyleTarget::new(&vgg, &style, &cfg)?;
    let model = Trainable::new(&NetConfig::default(), &device, 0)?;
    let mut adam = Adam::new(model.named_vars(), AdamConfig::default())?;
    let x = Tensor::rand(
        0f32,
        255f32,
        (o.batch_size, 3, o.image_size, o.image_size),
        &device,
    )?;
    let mut totals = Vec::new();
    let mut phases = [0f64; 4];
    for i in 0..o.warmup + o.steps {
        let t0 = Instant::now();
        let y = model.net.forward_raw(&x)?;
        if o.breakdown {
            sync(&y)?;
        }
        let t1 = Instant::now();
        let l = perceptual_losses(&vgg, &cfg, &target, &x, &y)?;
        if o.breakdown {
            sync(&l.total)?;
        }
        let t2 = Instant::now();
        let g = l.total.backward()?;
        if o.breakdown {
            for (_, s) in adam.slots.iter().take(1) {
                if let Some(t) = g.get(s.var.as_tensor()) {
                    sync(t)?;
                }
            }
        }
        let t3 = Instant::now();
        adam.step(&g)?;
        let first = adam.slots.values().next().expect("params");
        sync(first.var.as_tensor())?;
        let t4 = Instant::now();
        if i >= o.warmup {
            totals.push((t4 - t0).as_secs_f64() * 1e3);
            for (k, d) in [t1 - t0, t2 - t1, t3 - t2, t4 - t3].iter().enumerate() {
                phases[k] += d.as_secs_f64() * 1e3 / o.steps as f64;
            }
        }
    }
    totals.sort_by(|a, b| a.total_cmp(b));
    println!(
        "train step: batch {} at {}x{}, device {:?}, {} threads: median {:.1} ms/step, min {:.1} ms ({} steps after {} warm-up)",
        o.batch_size,
        o.image_size,
        o.image_size,
        device,
        candle_core::utils::get_num_threads(),
        totals[totals.len() / 2],
        totals[0],
        o.steps,
        o.warmup
    );
    if o.breakdown {
        println!(
            "  mean per phase: transformer forward {:.1} ms, VGG + losses {:.1} ms, backward {:.1} ms, Adam {:.1} ms",
            phases[0], phases[1], phases[2], phases[3]
        );
    }
    Ok(())
}
