//! What one step minimises: the perceptual losses of the network's output, plus, when
//! `--stability-weight` is on, the difference between the outputs for the batch and for
//! a shifted, noisy copy of it (`stability.rs`).

use candle_core::{Result, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::loss::{perceptual_losses, LossConfig, Losses, StyleTarget};
use crate::model::Trainable;
use crate::stability::{perturb, stability_loss, Shift, StabilityConfig};
use crate::vgg::Vgg16;

/// Network output and perceptual losses for one content batch.
pub fn compute_losses(
    model: &Trainable,
    vgg: &Vgg16,
    cfg: &LossConfig,
    style: &StyleTarget,
    x: &Tensor,
) -> Result<Losses> {
    let y = model.net.forward_raw(x)?;
    perceptual_losses(vgg, cfg, style, x, &y)
}

/// One step's losses with the stability term: the batch and its shifted, noisy copy go
/// through the network together (instance norm is per image, so this is the same as two
/// passes), the perceptual losses see the batch's half, and `total` adds the weighted
/// difference of the two halves, aligned. Returns the losses and the unweighted term.
pub fn compute_losses_with_stability(
    model: &Trainable,
    vgg: &Vgg16,
    cfg: &LossConfig,
    style: &StyleTarget,
    x: &Tensor,
    stab: &StabilityConfig,
    seed: u64,
) -> Result<(Losses, Tensor)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shift = Shift::draw(&mut rng, stab.max_shift);
    let x2 = perturb(x, shift, stab.noise, rng.gen())?;
    let n = x.dim(0)?;
    let both = model.net.forward_raw(&Tensor::cat(&[x, &x2], 0)?)?;
    let (y, y2) = (both.narrow(0, 0, n)?, both.narrow(0, n, n)?);
    let mut losses = perceptual_losses(vgg, cfg, style, x, &y)?;
    let term = stability_loss(&y, &y2, shift)?;
    losses.total = (&losses.total + (&term * stab.weight)?)?;
    Ok((losses, term))
}
