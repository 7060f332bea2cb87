//! What one step minimises: the perceptual losses of the network's output, plus, when
//! `--stability-weight` is on, the difference between the outputs for the batch and for
//! a shifted, noisy copy of it (`stability.rs`). A multi-style step paints each image in
//! the style drawn for it and scores it against that style's targets.

use candle_core::{Result, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::loss::{
    perceptual_losses, perceptual_losses_per_image, LossConfig, Losses, PerImage, StyleTarget,
};
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

/// One-hot rows `[rows, S]`: row `r` all style `styles[r % styles.len()]`, so a batch and
/// its stability copy (twice the rows) take the same styles.
fn one_hot(
    styles: &[usize],
    rows: usize,
    s: usize,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let mut v = vec![0f32; rows * s];
    for r in 0..rows {
        v[r * s + styles[r % styles.len()]] = 1.0;
    }
    Tensor::from_vec(v, (rows, s), device)
}

/// A multi-style step's losses: image `i` of `x` painted in style `styles[i]` (the bank's
/// rows mixed one-hot per image, so each style's scale and shift get the gradients of its
/// images only) and scored against `targets[styles[i]]`; with `stability`, the term as in
/// [`compute_losses_with_stability`] (its copy painted in the same styles). Returns the
/// batch losses, the per-image terms and the unweighted stability term.
pub fn compute_losses_multi(
    model: &Trainable,
    vgg: &Vgg16,
    cfg: &LossConfig,
    targets: &[StyleTarget],
    styles: &[usize],
    x: &Tensor,
    stability: Option<(&StabilityConfig, u64)>,
) -> Result<(Losses, PerImage, Option<Tensor>)> {
    let n = x.dim(0)?;
    let s = model.net.styles();
    if styles.len() != n || styles.iter().any(|&i| i >= s.min(targets.len())) {
        candle_core::bail!("style draw {styles:?} for a batch of {n} and {s} styles");
    }
    let per: Vec<&StyleTarget> = styles.iter().map(|&i| &targets[i]).collect();
    let Some((stab, seed)) = stability else {
        let net = model.net.styled(&one_hot(styles, n, s, x.device())?)?;
        let y = net.forward_raw(x)?;
        let (l, p) = perceptual_losses_per_image(vgg, cfg, &per, x, &y)?;
        return Ok((l, p, None));
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shift = Shift::draw(&mut rng, stab.max_shift);
    let x2 = perturb(x, shift, stab.noise, rng.gen())?;
    let net = model.net.styled(&one_hot(styles, 2 * n, s, x.device())?)?;
    let both = net.forward_raw(&Tensor::cat(&[x, &x2], 0)?)?;
    let (y, y2) = (both.narrow(0, 0, n)?, both.narrow(0, n, n)?);
    let (mut losses, p) = perceptual_losses_per_image(vgg, cfg, &per, x, &y)?;
    let term = stability_loss(&y, &y2, shift)?;
    losses.total = (&losses.total + (&term * stab.weight)?)?;
    Ok((losses, p, Some(term)))
}
