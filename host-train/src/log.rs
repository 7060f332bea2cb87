//! The loss log, `losses.jsonl`: one JSON line per step, written as training goes (so a
//! run can be watched and plotted while it runs) and rebuilt up to the checkpoint's step
//! on a resume.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// One step's loss values, as logged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LossRecord {
    pub step: u64,
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    pub total: f64,
    pub images_per_sec: f64,
    /// The weighted stability term (0 when it is off, and in logs from before it existed).
    #[serde(default)]
    pub stability: f64,
    /// A multi-style run's losses per style, for the styles the step's batch drew (empty
    /// for a one-style run, and in logs from before multi-style runs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub styles: Vec<StyleLoss>,
}

/// One style's share of a multi-style step: the weighted content and style losses
/// averaged over the `n` images that drew it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StyleLoss {
    /// The style's row in the network.
    pub index: usize,
    pub name: String,
    pub content: f64,
    pub style: f64,
    pub n: usize,
}

/// A run's log, open for appending, and the records it holds.
pub struct LossLog {
    file: File,
    history: Vec<LossRecord>,
}

impl LossLog {
    /// Starts the log at `path` for a run beginning after step `start`: a resumed run keeps
    /// the records up to `start` (unreadable lines and later steps are dropped, as the
    /// checkpoint is what continues), a fresh run starts empty.
    pub fn open(path: &Path, start: u64) -> Result<Self> {
        let history = if start > 0 {
            read_upto(path, start)
        } else {
            Vec::new()
        };
        let mut file =
            File::create(path).with_context(|| format!("creating {}", path.display()))?;
        for r in &history {
            writeln!(file, "{}", serde_json::to_string(r)?)?;
        }
        Ok(Self { file, history })
    }

    /// Appends one step's record.
    pub fn push(&mut self, rec: LossRecord) -> Result<()> {
        writeln!(self.file, "{}", serde_json::to_string(&rec)?)?;
        self.history.push(rec);
        Ok(())
    }

    /// Every record so far, the resumed ones included.
    pub fn history(&self) -> &[LossRecord] {
        &self.history
    }
}

fn read_upto(path: &Path, upto: u64) -> Vec<LossRecord> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<LossRecord>(l).ok())
        .filter(|r| r.step <= upto)
        .collect()
}

/// Every record of a finished or running log. Unparseable lines are an error naming the
/// file and line: the log is ours, so one means damage.
pub fn read(path: &Path) -> Result<Vec<LossRecord>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut history = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let r: LossRecord = serde_json::from_str(line).with_context(|| {
            format!(
                "{} line {}: not a loss record (a training log, losses.jsonl, was expected)",
                path.display(),
                n + 1
            )
        })?;
        history.push(r);
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(step: u64) -> LossRecord {
        LossRecord {
            step,
            content: 1.0,
            style: 2.0,
            tv: 3.0,
            total: 6.0,
            images_per_sec: 1.0,
            stability: 0.0,
            styles: Vec::new(),
        }
    }

    #[test]
    fn a_resume_keeps_the_records_up_to_its_step() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("losses.jsonl");
        let mut log = LossLog::open(&path, 0).unwrap();
        for s in 1..=5 {
            log.push(rec(s)).unwrap();
        }
        drop(log);
        assert_eq!(read(&path).unwrap().len(), 5);
        // Resumed from a checkpoint at step 3: steps 4 and 5 are taken again.
        let log = LossLog::open(&path, 3).unwrap();
        let steps: Vec<u64> = log.history().iter().map(|r| r.step).collect();
        assert_eq!(steps, [1, 2, 3]);
        assert_eq!(read(&path).unwrap().len(), 3);
        // A fresh run starts the file over.
        LossLog::open(&path, 0).unwrap();
        assert!(read(&path).unwrap().is_empty());
    }

    #[test]
    fn a_damaged_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("losses.jsonl");
        let good = serde_json::to_string(&rec(1)).unwrap();
        std::fs::write(&path, format!("{good}\n\ngarbage\n")).unwrap();
        let e = format!("{:#}", read(&path).unwrap_err());
        assert!(e.contains("losses.jsonl line 3: not a loss record"), "{e}");
    }
}
