//! How a run ended: finished at one of its limits, or interrupted with a checkpoint.

use std::path::PathBuf;

use crate::log::LossRecord;

/// Which limit ended a finished run: whichever of `--epochs`, `--max-steps` and
/// `--time-limit` comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    Epochs,
    MaxSteps,
    TimeLimit,
}

impl std::fmt::Display for EndedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EndedBy::Epochs => "--epochs",
            EndedBy::MaxSteps => "--max-steps",
            EndedBy::TimeLimit => "--time-limit",
        })
    }
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    Finished {
        steps: u64,
        last: Option<LossRecord>,
        ended_by: EndedBy,
    },
    Interrupted {
        step: u64,
        checkpoint: PathBuf,
    },
}
