//! Lines for stdout that never panic: `println!` panics when the reader has gone
//! (`edge-runtime ... | head -1`) or the disk is full, which would abandon a batch half
//! done. Here a failed write only stops the printing; the work goes on.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to stdout failed: later lines are dropped instead of retried.
static CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes one line to stdout (flushed, so a script reading results sees each at once).
pub fn line(text: impl std::fmt::Display) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        CLOSED.store(true, Ordering::Relaxed);
    }
}
