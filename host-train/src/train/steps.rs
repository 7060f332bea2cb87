//! The step loop: a batch from the prefetcher, the losses, Adam, the log line, and every
//! so often a checkpoint and a preview; it stops at the run's end, its time limit, or a
//! Ctrl-C (checkpoint first).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{bail, Result};
use stylecast::io::image::{save_png, tensor_to_image};

use super::objective::{compute_losses, compute_losses_with_stability};
use super::outcome::{EndedBy, Outcome};
use super::progress::{progress_bar, say, step_message};
use super::setup::Run;
use crate::checkpoint::{self, CheckpointState};
use crate::data::{mix, Prefetcher};
use crate::log::LossRecord;
use crate::loss::scalar;
use crate::options::CURVE_FILE;
use crate::plot::save_loss_curve;

/// Separates the stability term's random stream from the data's (seed, epoch, position).
const STABILITY_STREAM: u64 = 0x5354_4142_494c_4954;

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
            let (losses, stability) = if opts.stability.weight > 0.0 {
                let seed = mix(opts.seed, step, STABILITY_STREAM);
                let (l, t) = compute_losses_with_stability(
                    &self.model,
                    &self.vgg,
                    &opts.loss,
                    &self.target,
                    &x,
                    &opts.stability,
                    seed,
                )?;
                (l, Some(t))
            } else {
                let l = compute_losses(&self.model, &self.vgg, &opts.loss, &self.target, &x)?;
                (l, None)
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
            };
            t_last = now;
            self.log.push(rec)?;
            self.last = Some(rec);
            pb.set_position(step + 1);
            pb.set_message(step_message(&rec, stability.is_some()));
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

    /// Stylizes the preview photo with the current weights into the run folder.
    pub(super) fn save_preview(&self, name: &str) -> Result<()> {
        let y = candle_core::Module::forward(&self.model.net, &self.preview_x)?;
        save_png(&tensor_to_image(&y)?, &self.opts.run_dir().join(name))?;
        Ok(())
    }
}
