//! Temporal stability: the same scene a pixel or two to the side, or with a little sensor
//! noise, should be stylized the same, shifted with it.
//!
//! The network downsamples by 4 with two stride-2 convolutions, so its output depends on
//! where the image sits modulo 4: moved by one pixel, a shipped style re-paints its strokes
//! (models/README.md has the measurements). On a live camera every small motion makes the
//! picture swim. Training against a
//! shifted, noisy copy of each batch (in the spirit of Gupta et al. 2017, "Characterizing
//! and Improving Stability in Neural Style Transfer") teaches the network to paint the same
//! strokes at every phase. The same measure scores models in `host-train eval`.

use candle_core::{Result, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use stylecast::ops::padding::reflection_pad2d;

/// The stability term's settings. `weight` 0 (the default) leaves training as it was.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StabilityConfig {
    /// Weight of the mean squared difference (0-255 pixels) between the stylized batch
    /// and the stylized shifted copy, aligned.
    pub weight: f64,
    /// Shifts are drawn from 0..=max_shift pixels right and down, independently.
    pub max_shift: usize,
    /// Standard deviation of the Gaussian noise added to the copy, in 0-255 levels.
    pub noise: f64,
}

impl Default for StabilityConfig {
    fn default() -> Self {
        Self {
            weight: 0.0,
            max_shift: 3,
            noise: 2.0,
        }
    }
}

/// Pixels left out along every side of the compared region: the band the network draws
/// along an image's edge does not move with the content (see shared's `DEFAULT_BORDER_PAD`).
pub const MARGIN: usize = 8;

/// One draw of the perturbation: content moved left by `dx` and up by `dy` pixels, and
/// the noise added on top.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    pub dx: usize,
    pub dy: usize,
}

impl Shift {
    pub fn draw(rng: &mut impl Rng, max_shift: usize) -> Self {
        Self {
            dx: rng.gen_range(0..=max_shift),
            dy: rng.gen_range(0..=max_shift),
        }
    }
}

/// `x` (N, 3, H, W, 0-255) moved so that `out[i, j] = x[i + dy, j + dx]`, the strip this
/// opens on the right and bottom mirrored in, plus Gaussian noise of `noise` levels from
/// `seed` (a pure function of its inputs, so a resumed run draws the same), clamped to 0-255.
pub fn perturb(x: &Tensor, shift: Shift, noise: f64, seed: u64) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let Shift { dx, dy } = shift;
    if dx >= w || dy >= h {
        candle_core::bail!("shift {dx}x{dy} does not fit a {w}x{h} image");
    }
    let moved = x.narrow(2, dy, h - dy)?.narrow(3, dx, w - dx)?;
    let moved = reflection_pad2d(&moved, 0, dy, 0, dx)?;
    if noise <= 0.0 {
        return Ok(moved);
    }
    let noise = Tensor::from_vec(
        gaussian(n * c * h * w, noise, seed),
        (n, c, h, w),
        x.device(),
    )?
    .to_dtype(x.dtype())?;
    (moved + noise)?.clamp(0f32, 255f32)
}

/// `len` normal samples of standard deviation `sd` (Box-Muller; no rand_distr for rand 0.8
/// in the tree).
fn gaussian(len: usize, sd: f64, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut v = Vec::with_capacity(len + 1);
    while v.len() < len {
        let u1: f64 = 1.0 - rng.gen::<f64>(); // (0, 1]: ln stays finite
        let u2: f64 = rng.gen();
        let r = (-2.0 * u1.ln()).sqrt() * sd;
        let t = std::f64::consts::TAU * u2;
        v.push((r * t.cos()) as f32);
        v.push((r * t.sin()) as f32);
    }
    v.truncate(len);
    v
}

/// The two outputs' overlapping regions, aligned: `y` stylized from `x`, `y2` from
/// `perturb(x, shift, ..)`, both (N, 3, H, W).
fn aligned(y: &Tensor, y2: &Tensor, shift: Shift) -> Result<(Tensor, Tensor)> {
    let (_, _, h, w) = y.dims4()?;
    let Shift { dx, dy } = shift;
    let (rh, rw) = (
        (h - dy).saturating_sub(2 * MARGIN),
        (w - dx).saturating_sub(2 * MARGIN),
    );
    if rh == 0 || rw == 0 {
        candle_core::bail!("a {w}x{h} image leaves nothing to compare after shift and margin");
    }
    let a = y.narrow(2, MARGIN + dy, rh)?.narrow(3, MARGIN + dx, rw)?;
    let b = y2.narrow(2, MARGIN, rh)?.narrow(3, MARGIN, rw)?;
    Ok((a, b))
}

/// Mean squared difference of the aligned outputs (the training term, unweighted).
pub fn stability_loss(y: &Tensor, y2: &Tensor, shift: Shift) -> Result<Tensor> {
    let (a, b) = aligned(y, y2, shift)?;
    crate::loss::mse(&a, &b)
}

/// Mean absolute difference of the aligned outputs in 0-255 levels, each clamped first as
/// the runtime clamps: how much a frame changes that should only have moved.
pub fn flicker(y: &Tensor, y2: &Tensor, shift: Shift) -> Result<f64> {
    let (a, b) = aligned(&y.clamp(0f32, 255f32)?, &y2.clamp(0f32, 255f32)?, shift)?;
    a.sub(&b)?
        .abs()?
        .mean_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()
}

/// The fixed perturbations `host-train eval` scores every model with: one pixel across,
/// one down, and two diagonally, each with 2 levels of noise.
pub const EVAL_SHIFTS: [Shift; 3] = [
    Shift { dx: 1, dy: 0 },
    Shift { dx: 0, dy: 1 },
    Shift { dx: 2, dy: 2 },
];
pub const EVAL_NOISE: f64 = 2.0;

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn ramp(h: usize, w: usize) -> Tensor {
        let v: Vec<f32> = (0..3 * h * w).map(|i| (i % 251) as f32).collect();
        Tensor::from_vec(v, (1, 3, h, w), &Device::Cpu).unwrap()
    }

    #[test]
    fn perturb_moves_content_and_mirrors_the_opened_strip() {
        let x = ramp(6, 7);
        let s = Shift { dx: 2, dy: 1 };
        let p = perturb(&x, s, 0.0, 1).unwrap();
        assert_eq!(p.dims4().unwrap(), (1, 3, 6, 7));
        let x4 = x.squeeze(0).unwrap().to_vec3::<f32>().unwrap();
        let p4 = p.squeeze(0).unwrap().to_vec3::<f32>().unwrap();
        for c in 0..3 {
            for i in 0..5 {
                for j in 0..5 {
                    assert_eq!(p4[c][i][j], x4[c][i + 1][j + 2]);
                }
                // Mirrored: column 5 reflects column 3 of the moved image.
                assert_eq!(p4[c][i][5], x4[c][i + 1][3 + 2]);
            }
        }
    }

    #[test]
    fn a_network_that_moves_with_its_input_scores_zero() {
        // The identity "network": output = input, so aligned outputs agree exactly.
        let x = ramp(40, 44);
        for s in EVAL_SHIFTS {
            let y2 = perturb(&x, s, 0.0, 3).unwrap();
            assert_eq!(flicker(&x, &y2, s).unwrap(), 0.0);
            assert_eq!(
                stability_loss(&x, &y2, s)
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap(),
                0.0
            );
            // Compared against the wrong alignment it is not zero: the measure sees shifts.
            if s.dx > 0 {
                assert!(flicker(&x, &y2, Shift { dx: 0, dy: s.dy }).unwrap() > 1.0);
            }
        }
    }

    #[test]
    fn noise_has_the_asked_spread_and_is_reproducible() {
        let a = gaussian(100_001, 2.0, 9);
        assert_eq!(a.len(), 100_001);
        assert_eq!(a, gaussian(100_001, 2.0, 9));
        assert_ne!(a[..10], gaussian(10, 2.0, 10)[..]);
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / a.len() as f64;
        let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / a.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var.sqrt() - 2.0).abs() < 0.03, "sd {}", var.sqrt());
        // Noise on a mid-grey image changes it by about sd * sqrt(2/pi) on average.
        let grey = Tensor::full(128f32, (1, 3, 64, 64), &Device::Cpu).unwrap();
        let p = perturb(&grey, Shift { dx: 0, dy: 0 }, 2.0, 4).unwrap();
        let mad = (p - &grey)
            .unwrap()
            .abs()
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((mad - 1.596).abs() < 0.05, "mean abs {mad}");
    }

    #[test]
    fn shifts_that_do_not_fit_are_errors() {
        let x = ramp(4, 4);
        assert!(perturb(&x, Shift { dx: 4, dy: 0 }, 0.0, 0).is_err());
        assert!(flicker(&x, &x, Shift { dx: 1, dy: 1 }).is_err());
    }
}
