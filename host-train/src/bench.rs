//! `host-train bench`: milliseconds per training step on random data.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use stylecast::NetConfig;

use crate::adam::{Adam, AdamConfig};
use crate::loss::{perceptual_losses, LossConfig, StyleTarget};
use crate::model::Trainable;
use crate::vgg::{resolve_weights, Vgg16};

pub struct BenchOptions {
    pub batch_size: usize,
    pub image_size: usize,
    pub steps: usize,
    pub warmup: usize,
    pub device: String,
    pub vgg: Option<PathBuf>,
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
        let _ = l.total.to_dtype(DType::F32)?;
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

/// Runs the same training step (random weights and data, fixed seed) on the CPU and on
/// `device`, and reports the largest relative difference of the losses, of every
/// parameter's gradient and of the network's output. The CPU path is the one the
/// conformance tests hold to PyTorch, so this carries that check to CUDA.
pub fn check_device(device: &str, vgg: Option<&std::path::Path>) -> Result<f64> {
    let dev = stylecast::parse_device(device)?;
    let path = resolve_weights(vgg)?;
    let cfg = LossConfig::default();
    let x = Tensor::rand(0f32, 255f32, (2, 3, 64, 96), &Device::Cpu)?;
    let style = Tensor::rand(0f32, 255f32, (1, 3, 80, 112), &Device::Cpu)?;
    let run = |d: &Device| -> Result<(Vec<f64>, Vec<(String, Tensor)>, Tensor)> {
        let vgg = Vgg16::load(&path, d)?;
        let target = StyleTarget::new(&vgg, &style.to_device(d)?, &cfg)?;
        let model = Trainable::new(&NetConfig::default(), d, 7)?;
        let xd = x.to_device(d)?;
        let y = model.net.forward_raw(&xd)?;
        let l = perceptual_losses(&vgg, &cfg, &target, &xd, &y)?;
        let losses = [&l.content, &l.style, &l.tv, &l.total]
            .iter()
            .map(|t| Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?))
            .collect::<Result<Vec<f64>>>()?;
        let g = l.total.backward()?;
        let grads = model
            .named_vars()
            .into_iter()
            .filter_map(|(n, v)| g.get(v.as_tensor()).map(|t| (n, t.to_device(&Device::Cpu))))
            .map(|(n, t)| Ok((n, t?)))
            .collect::<Result<Vec<_>>>()?;
        Ok((losses, grads, y.to_device(&Device::Cpu)?))
    };
    let (lc, gc, yc) = run(&Device::Cpu)?;
    let (ld, gd, yd) = run(&dev)?;
    let rel = |a: &Tensor, b: &Tensor| -> Result<f64> {
        let d = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()? as f64;
        let m = b.abs()?.max_all()?.to_scalar::<f32>()? as f64;
        Ok(if m == 0.0 { d } else { d / m })
    };
    let mut worst = 0f64;
    for (name, (a, b)) in ["content", "style", "tv", "total"]
        .iter()
        .zip(lc.iter().zip(&ld))
    {
        let e = (a - b).abs() / b.abs().max(1e-30);
        println!("loss {name}: cpu {a:.6e} {device} {b:.6e} rel diff {e:.2e}");
        worst = worst.max(e);
    }
    let gmax = gc
        .iter()
        .map(|(_, t)| {
            t.abs()
                .and_then(|t| t.max_all())
                .and_then(|t| t.to_scalar::<f32>())
                .unwrap_or(0.0)
        })
        .fold(0f32, f32::max) as f64;
    let mut gworst = (0f64, String::new());
    for ((n, a), (_, b)) in gc.iter().zip(&gd) {
        // Gradients that are exactly zero in exact arithmetic (biases before instance
        // norm) are noise: compare them against the largest gradient of the network.
        let d = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()? as f64;
        let m = a.abs()?.max_all()?.to_scalar::<f32>()? as f64;
        let e = if m < 1e-6 * gmax { d / gmax } else { d / m };
        if e > gworst.0 {
            gworst = (e, n.clone());
        }
    }
    println!(
        "gradients: {} parameters, worst rel diff {:.2e} ({})",
        gc.len(),
        gworst.0,
        gworst.1
    );
    let ey = rel(&yd, &yc)?;
    println!("network output: rel diff {ey:.2e}");
    Ok(worst.max(gworst.0).max(ey))
}
