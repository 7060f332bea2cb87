//! What a run says while it goes: the progress bar, and lines above it (or on stdout
//! when the bar is hidden, for logs and CI).

use indicatif::{ProgressBar, ProgressStyle};

use crate::log::LossRecord;

pub(crate) fn progress_bar(total: u64, start: u64, visible: bool) -> ProgressBar {
    let pb = if visible {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] step {pos}/{len} ETA {eta}  {msg}",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    pb.set_position(start);
    pb.reset_eta();
    pb
}

/// A line above the progress bar, or on stdout when the bar is hidden (a hidden bar's
/// `println` prints nothing).
pub(crate) fn say(pb: &ProgressBar, msg: String) {
    if pb.is_hidden() {
        println!("{msg}");
    } else {
        pb.println(msg);
    }
}

/// The bar's message after a step: speed and the weighted losses.
pub(super) fn step_message(rec: &LossRecord, with_stability: bool) -> String {
    format!(
        "{:.1} img/s  content {:.3e}  style {:.3e}  tv {:.3e}{}",
        rec.images_per_sec,
        rec.content,
        rec.style,
        rec.tv,
        if with_stability {
            format!("  stability {:.3e}", rec.stability)
        } else {
            String::new()
        }
    )
}
