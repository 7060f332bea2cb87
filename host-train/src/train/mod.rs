//! Training a style: [`train`] runs or resumes a run until it finishes or is stopped.
//!
//! In order: `preflight.rs` (before anything loads: outputs writable, an earlier run
//! not wiped; the command line calls it), `setup.rs` (options settled, networks, data, weights, run folder),
//! `steps.rs` (the step loop, with checkpoints and previews; `objective.rs` is what a
//! step minimises, `progress.rs` what it says), `finish.rs` (final model and files).

mod finish;
mod objective;
mod outcome;
mod preflight;
pub(crate) mod progress;
mod setup;
mod steps;

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Result;

use crate::options::TrainOptions;
pub use objective::{compute_losses, compute_losses_with_stability};
pub use outcome::{EndedBy, Outcome};
pub use preflight::{prepare, RunFolder};

/// Runs (or resumes, from the checkpoint `resume`) training until done, interrupted
/// (`stop`: a checkpoint is written first), or failed.
pub fn train(opts: &TrainOptions, resume: Option<&Path>, stop: Arc<AtomicBool>) -> Result<Outcome> {
    let mut run = setup::Run::setup(opts, resume)?;
    if let Some(interrupted) = run.steps(&stop)? {
        return Ok(interrupted);
    }
    run.finish()
}
