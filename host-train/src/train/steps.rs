//! The step loop: a batch from the prefetcher, the losses, Adam, the log line, and every
//! so often a checkpoint and a preview; it stops at the run's end, its time limit, or a
//! Ctrl-C (checkpoint first).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{bail, Result};
use stylecast::io::image::{save_png, tensor_to_image};

use super::objective::{compute_losses, compute_losses_multi, compute_losses_with_stability};
use super::outcome::{EndedBy, Outcome};
use super::progress::{progress_bar, say, step_message};
use super::setup::Run;
use crate::checkpoint::{self, CheckpointState};
use crate::data::{mix, Prefetcher};
use crate::log::{LossRecord, StyleLoss};
use crate::loss::{scalar, LossConfig, PerImage};
use crate::options::CURVE_FILE;
use crate::plot::save_loss_curve;

/// Separates the stability term's random stream from the data's (seed, epoch, position).
const STABILITY_STREAM: u64 = 0x5354_4142_494c_4954;

/// Separates the multi-style draw's random stream from the data's and the stability term's.
const STYLE_STREAM: u64 = 0x5354_594c_4544_5257;

/// The styles of a multi-style step's `batch` images, one of `styles` each: a pure
/// function of (seed, step, position), so a resumed run draws what an uninterrupted one
/// would have.
pub(crate) fn style_draw(seed: u64, step: u64, batch: usize, styles: usize) -> Vec<usize> {
    (0..batch as u64)
        .map(|k| (mix(seed ^ STYLE_STREAM, step, k) % styles.max(1) as u64) as usize)
        .collect()
}

/// Each drawn style's weighted content and style losses, averaged over its images, in
/// style order.
fn per_style_losses(
    drawn: &[usize],
    per_image: &PerImage,
    names: &[String],
    loss: &LossConfig,
) -> Result<Vec<StyleLoss>> {
    let content = per_image
        .content
        .to_dtype(candle_core::DType::F64)?
        .to_vec1::<f64>()?;
    let style = per_image
        .style
        .to_dtype(candle_core::DType::F64)?
        .to_vec1::<f64>()?;
    let mut present: Vec<usize> = drawn.to_vec();
    present.sort_unstable();
    present.dedup();
    Ok(present
        .into_iter()
        .map(|s| {
            let idx: Vec<usize> = (0..drawn.len()).filter(|&i| drawn[i] == s).collect();
            let mean = |v: &[f64]| idx.iter().map(|&i| v[i]).sum::<f64>() / idx.len() as f64;
            StyleLoss {
                index: s,
                name: names.get(s).cloned().unwrap_or_else(|| s.to_string()),
                content: mean(&content) * loss.content_weight,
                style: mean(&style) * loss.style_weight,
                n: idx.len(),
            }
        })
        .collect())
}

/// The learning rate of 0-based `step`: linear warmup over the first `warmup` steps.
fn warmup_lr(lr: f64, warmup: u64, step: u64) -> f64 {
    if step < warmup {
        lr * (step + 1) as f64 / warmup as f64
    } else {
        lr
    }
}

impl Run {
    /// Takes the steps from `start` to `total`. Returns `Some` when `stop` interrupted
    /// the run (its checkpoint saved), `None` when the steps are done (`total` is then
    /// where they ended, earlier than planned after the time limit).
    pub(super) fn steps(&mut self, stop: &AtomicBool) -> Result<Option<Outcome>> {
        let (start, opts) = (self.start, self.opts.clone());
        let pb = progress_bar(self.total, start, opts.progress);
        // Said up front: a run that ends at the default 2 epochs long before its
        // --time-limit otherwise looks like a run that stopped early.
        say(
            &pb,
            format!(
                "steps {}..{}: {} epochs of {} steps ({} photos, batch {}){}{}",
                start + 1,
                self.total,
                opts.epochs,
                self.steps_per_epoch,
                self.ds.len(),
                opts.batch_size,
                match self.ended_by {
                    EndedBy::MaxSteps => format!(", stopping at --max-steps {}", self.total),
                    _ => String::new(),
                },
                opts.time_limit
                    .map(|l| format!(", or after --time-limit {l} s"))
                    .unwrap_or_default(),
            ),
        );
        let pf = Prefetcher::start(self.ds.clone(), opts.batch_size, start, self.total, 4);
        let ckpt_path = opts.checkpoint_path();
        let mut t_last = Instant::now();
        self.clock = Instant::now();
        for step in start..self.total {
            let (s, x) = pf.next()?;
            debug_assert_eq!(s, step);
            let x = x.to_device(&self.device)?;
            let stab_seed = mix(opts.seed, step, STABILITY_STREAM);
            let stab = (opts.stability.weight > 0.0).then_some((&opts.stability, stab_seed));
            let (losses, stability, per_style) = if opts.is_multi() {
                let drawn = style_draw(opts.seed, step, x.dim(0)?, self.targets.len());
                let (l, per_image, t) = compute_losses_multi(
                    &self.model,
                    &self.vgg,
                    &opts.loss,
                    &self.targets,
                    &drawn,
                    &x,
                    stab,
                )?;
                let per = per_style_losses(&drawn, &per_image, &opts.style_names(), &opts.loss)?;
                (l, t, per)
            } else if let Some((stab, seed)) = stab {
                let (l, t) = compute_losses_with_stability(
                    &self.model,
                    &self.vgg,
                    &opts.loss,
                    &self.targets[0],
                    &x,
                    stab,
                    seed,
                )?;
                (l, Some(t), Vec::new())
            } else {
                let l = compute_losses(&self.model, &self.vgg, &opts.loss, &self.targets[0], &x)?;
                (l, None, Vec::new())
            };
            let total_loss = scalar(&losses.total)?;
            if !total_loss.is_finite() {
                pb.abandon();
                bail!(
                    "loss became {total_loss} at step {}: training diverged (try a lower --lr or --style-weight). \
                     The last good checkpoint is {}",
                    step + 1,
                    if ckpt_path.exists() { ckpt_path.display().to_string() } else { "none (no checkpoint written yet)".into() }
                );
            }
            let grads = losses.total.backward()?;
            self.adam.cfg.lr = warmup_lr(opts.lr, opts.warmup_steps.unwrap_or(0), step);
            self.adam.step(&grads)?;
            let now = Instant::now();
            let rec = LossRecord {
                step: step + 1,
                content: scalar(&losses.content)? * opts.loss.content_weight,
                style: scalar(&losses.style)? * opts.loss.style_weight,
                tv: scalar(&losses.tv)? * opts.loss.tv_weight,
                stability: match &stability {
                    Some(t) => scalar(t)? * opts.stability.weight,
                    None => 0.0,
                },
                total: total_loss,
                images_per_sec: opts.batch_size as f64
                    / now.duration_since(t_last).as_secs_f64().max(1e-9),
                styles: per_style,
            };
            t_last = now;
            pb.set_position(step + 1);
            pb.set_message(step_message(&rec, stability.is_some()));
            self.log.push(rec.clone())?;
            self.last = Some(rec);
            let done = step + 1;
            let stopping = stop.load(Ordering::SeqCst);
            if done % opts.checkpoint_every.max(1) == 0 || stopping {
                self.save_checkpoint(done)?;
            }
            if opts.preview_every > 0 && done % opts.preview_every == 0 {
                self.save_preview(&format!("preview-{done:06}.png"))?;
                // The curve so far, so a long run can be watched, not only read at the end.
                save_loss_curve(self.log.history(), &opts.run_dir().join(CURVE_FILE))?;
            }
            if opts
                .time_limit
                .is_some_and(|l| self.clock.elapsed().as_secs_f64() >= l)
                && done < self.total
            {
                say(&pb, format!("time limit reached at step {done}; finishing"));
                self.ended_by = EndedBy::TimeLimit;
                self.total = done;
                break;
            }
            if stopping && done < self.total {
                pb.abandon_with_message(format!("interrupted at step {done}; checkpoint saved"));
                return Ok(Some(Outcome::Interrupted {
                    step: done,
                    checkpoint: ckpt_path,
                }));
            }
        }
        pb.finish();
        Ok(None)
    }

    /// Seconds of training so far, every resumed segment included.
    pub(super) fn seconds(&self) -> f64 {
        self.prior_seconds + self.clock.elapsed().as_secs_f64()
    }

    /// Writes the checkpoint of the state after `step` steps.
    pub(super) fn save_checkpoint(&self, step: u64) -> Result<()> {
        checkpoint::save(
            &self.opts.checkpoint_path(),
            &self.model,
            &self.adam,
            &CheckpointState {
                step,
                options: self.opts.clone(),
                init: self.init.clone(),
                seconds: self.seconds(),
            },
        )
    }

    /// Stylizes the preview photo with the current weights into the run folder; a
    /// multi-style run paints it in every style, side by side ([`PREVIEW_ROW`] a row).
    pub(super) fn save_preview(&self, name: &str) -> Result<()> {
        let net = &self.model.net;
        let path = self.opts.run_dir().join(name);
        if net.styles() == 1 {
            let y = candle_core::Module::forward(net, &self.preview_x)?;
            save_png(&tensor_to_image(&y)?, &path)?;
            return Ok(());
        }
        let mut tiles = Vec::with_capacity(net.styles());
        for s in 0..net.styles() {
            let mix = stylecast::StyleMix::single(s, net.styles())?.to_tensor(&self.device)?;
            let y = candle_core::Module::forward(&net.styled(&mix)?, &self.preview_x)?;
            tiles.push(tensor_to_image(&y)?);
        }
        save_png(&tile_row(&tiles, PREVIEW_ROW), &path)?;
        Ok(())
    }
}

/// Previews of a multi-style run per row.
const PREVIEW_ROW: usize = 8;

/// Equal-sized pictures side by side, `per_row` a row, rows below each other.
fn tile_row(tiles: &[image::RgbImage], per_row: usize) -> image::RgbImage {
    let (w, h) = tiles[0].dimensions();
    let cols = tiles.len().min(per_row) as u32;
    let rows = tiles.len().div_ceil(per_row) as u32;
    let mut out = image::RgbImage::from_pixel(cols * w, rows * h, image::Rgb([255, 255, 255]));
    for (k, t) in tiles.iter().enumerate() {
        let (c, r) = ((k % per_row) as i64, (k / per_row) as i64);
        image::imageops::replace(&mut out, t, c * w as i64, r * h as i64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_style_draw_is_fixed_by_seed_step_and_position_and_uses_every_style() {
        assert_eq!(style_draw(7, 12, 4, 3), style_draw(7, 12, 4, 3));
        assert_ne!(
            (0..20).map(|s| style_draw(7, s, 4, 3)).collect::<Vec<_>>(),
            (0..20).map(|s| style_draw(8, s, 4, 3)).collect::<Vec<_>>()
        );
        let mut counts = [0usize; 3];
        for step in 0..300 {
            for s in style_draw(1, step, 4, 3) {
                counts[s] += 1;
            }
        }
        // 1200 draws: each style about 400.
        assert!(
            counts.iter().all(|&c| (300..500).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(style_draw(1, 0, 4, 1), vec![0; 4]);
    }

    #[test]
    fn previews_tile_eight_a_row() {
        let tiles: Vec<_> = (0..10)
            .map(|k| image::RgbImage::from_pixel(4, 3, image::Rgb([k as u8, 0, 0])))
            .collect();
        let img = tile_row(&tiles, 8);
        assert_eq!(img.dimensions(), (32, 6));
        assert_eq!(img.get_pixel(4 * 7, 0).0[0], 7);
        assert_eq!(img.get_pixel(4, 3).0[0], 9);
        // The second row's unused places stay white.
        assert_eq!(img.get_pixel(4 * 5, 4).0, [255, 255, 255]);
    }
}
