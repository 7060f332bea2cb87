//! `host-train check-device`: one training step on the CPU and on a device (e.g. CUDA),
//! compared loss by loss, gradient by gradient. The CPU path is the one the conformance
//! tests hold to PyTorch, so this carries that check to other devices.

use std::path::Path;

use anyhow::Result;
use candle_core::{Device, Tensor};
use stylecast::NetConfig;

use crate::loss::{perceptual_losses, scalar, LossConfig, StyleTarget};
use crate::model::Trainable;
use crate::vgg::{resolve_weights, Vgg16};

/// One training step's losses, named gradients (on the CPU) and network output.
type StepResult = (Vec<f64>, Vec<(String, Tensor)>, Tensor);

/// Uniform 0-255 values from a fixed seed, on the CPU.
fn seeded_image(shape: (usize, usize, usize, usize), seed: u64) -> Result<Tensor> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let v: Vec<f32> = (0..n).map(|_| rng.gen_range(0f32..255f32)).collect();
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

/// Runs the same training step (random weights and data, fixed seed) on the CPU and on
/// `device`, and reports the largest relative difference of the losses, of every
/// parameter's gradient and of the network's output. The CPU path is the one the
/// conformance tests hold to PyTorch, so this carries that check to CUDA.
///
/// Some gradients are ill-conditioned: a convolution feeding instance norm has a weight
/// gradient that is a sum of large terms cancelling to a small one, so any change in
/// summation order moves it. Each gradient is therefore also measured against the CPU's own
/// noise floor (the same step with the input moved by about one part in 10^6), and a
/// difference within 10x that floor counts as agreement.
pub fn check_device(device: &str, vgg: Option<&Path>) -> Result<f64> {
    let dev = stylecast::parse_device(device)?;
    let path = resolve_weights(vgg)?;
    let cfg = LossConfig::default();
    // Seeded, so every run (and every machine) checks the same step.
    let x = seeded_image((2, 3, 64, 96), 1)?;
    let style = seeded_image((1, 3, 80, 112), 2)?;
    let run = |d: &Device, x: &Tensor| -> Result<StepResult> {
        let vgg = Vgg16::load(&path, d)?;
        let target = StyleTarget::new(&vgg, &style.to_device(d)?, &cfg)?;
        let model = Trainable::new(&NetConfig::default(), d, 7)?;
        let xd = x.to_device(d)?;
        let y = model.net.forward_raw(&xd)?;
        let l = perceptual_losses(&vgg, &cfg, &target, &xd, &y)?;
        let losses = [&l.content, &l.style, &l.tv, &l.total]
            .iter()
            .map(|t| Ok(scalar(t)?))
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
    let (lc, gc, yc) = run(&Device::Cpu, &x)?;
    let (_, gn, _) = run(&Device::Cpu, &(&x + 2e-4)?)?;
    let (ld, gd, yd) = run(&dev, &x)?;
    let max_abs =
        |t: &Tensor| -> Result<f64> { Ok(t.abs()?.max_all()?.to_scalar::<f32>()? as f64) };
    let mut worst = 0f64;
    for (name, (a, b)) in ["content", "style", "tv", "total"]
        .iter()
        .zip(lc.iter().zip(&ld))
    {
        let e = (a - b).abs() / b.abs().max(1e-30);
        println!("loss {name}: cpu {a:.6e} {device} {b:.6e} rel diff {e:.2e}");
        worst = worst.max(e);
    }
    let mut gmax = 0f64;
    for (_, t) in &gc {
        gmax = gmax.max(max_abs(t)?);
    }
    let mut unexplained = 0f64;
    let mut largest = (0f64, String::new(), 0f64); // (difference, name, CPU noise floor)
    let mut within_noise = Vec::new();
    let mut noise_max = 0f64;
    for (((n, a), (_, b)), (_, c)) in gc.iter().zip(&gd).zip(&gn) {
        // Gradients that are exactly zero in exact arithmetic (biases before instance
        // norm) are noise: compare them against the largest gradient of the network.
        let m = max_abs(a)?;
        let scale = if m < 1e-6 * gmax { gmax } else { m };
        let diff = max_abs(&(a - b)?)? / scale;
        let noise = max_abs(&(a - c)?)? / scale;
        noise_max = noise_max.max(noise);
        if diff > largest.0 {
            largest = (diff, n.clone(), noise);
        }
        if diff > 1e-3 && diff <= 10.0 * noise {
            within_noise.push(format!("{n} ({diff:.1e}, CPU noise {noise:.1e})"));
        } else {
            unexplained = unexplained.max(diff);
        }
    }
    if largest.1.is_empty() {
        println!("gradients: {} parameters, all identical", gc.len());
    } else {
        println!(
            "gradients: {} parameters, worst rel diff {:.2e} ({}; CPU noise floor there {:.2e})",
            gc.len(),
            largest.0,
            largest.1,
            largest.2
        );
    }
    println!("  the CPU's own f32 noise floor on these gradients: up to {noise_max:.2e}");
    if !within_noise.is_empty() {
        println!(
            "  above 1e-3 but within 10x the CPU's own noise floor (ill-conditioned): {}",
            within_noise.join(", ")
        );
    }
    let ey = max_abs(&(&yd - &yc)?)? / max_abs(&yc)?.max(f64::MIN_POSITIVE);
    println!("network output: rel diff {ey:.2e}");
    Ok(worst.max(unexplained).max(ey))
}
