//! The no-argument run on a machine with no display and no camera: the bundled demo photo
//! at its own size, stylized by every shipped style, each written to a file, plus one
//! before/after sheet of them all, so a first run shows what the project does.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use image::RgbImage;
use stylecast::io::image::{load_rgb, save_png};
use stylecast::{Precision, StylizeOptions, Stylizer};

use crate::files::entry_tags;
use crate::live::source::demo_photo;
use crate::models::ModelChoice;
use crate::sheet::{column_labels, compose, Layout};

/// Where the demo writes when nothing else is asked.
pub const DEMO_DIR: &str = "stylecast-out";

/// The checked options of the demo run.
#[derive(Debug, Clone)]
pub struct DemoSettings {
    pub output: PathBuf,
    pub models: ModelChoice,
    /// The `--device` spec, opened when the run starts.
    pub device: String,
    pub precision: Precision,
    pub stylize: StylizeOptions,
    pub quiet: bool,
}

/// Stylizes the demo photo with every model, writes `demo_<style>.png` per style and
/// `demo_sheet.png`, and prints their paths (one per line, on stdout).
pub fn run(s: &DemoSettings) -> Result<()> {
    let photo_path = demo_photo().context(
        "the bundled demo photo (assets/demo.jpg) is missing: run from the checkout, \
         or stylize your own photos with --input PHOTO --output DIR",
    )?;
    // Shown to the user: without the checkout's `edge-runtime/..` detour.
    let photo_path = std::fs::canonicalize(&photo_path).unwrap_or(photo_path);
    let photo = load_rgb(&photo_path)?;
    let paths = s.models.paths()?;
    let device = stylecast::parse_device(&s.device)?;
    std::fs::create_dir_all(&s.output)
        .with_context(|| format!("{}: cannot create output folder", s.output.display()))?;
    let mut row = vec![Some(photo.clone())];
    let mut written = Vec::with_capacity(paths.len() + 1);
    // Every style of a multi-style file, named apart from other files' styles.
    let mut entries = Vec::with_capacity(paths.len());
    for p in &paths {
        entries.extend(crate::models::styles_of(
            p,
            Stylizer::load(p, &device, s.precision)?,
            None,
        )?);
    }
    let pb = if s.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(entries.len() as u64)
    };
    for (e, tag) in entries.iter().zip(entry_tags(&entries)) {
        pb.set_message(e.name.clone());
        let out = e.stylizer.stylize(&photo, &s.stylize).with_context(|| {
            format!(
                "{}: stylizing with {} failed",
                photo_path.display(),
                e.path.display()
            )
        })?;
        let dst = s.output.join(format!("demo_{tag}.png"));
        save_png(&out, &dst)?;
        written.push(dst);
        row.push(Some(out));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let mut labels = vec!["photo".to_string()];
    labels.extend(column_labels(&entries));
    let sheet = compose(&[row], &labels, &sheet_layout(&photo));
    let sheet_path = s.output.join("demo_sheet.png");
    save_png(&sheet, &sheet_path)?;
    written.push(sheet_path);
    report(&written, &photo_path);
    Ok(())
}

/// Cells of the photo's own aspect, 256 pixels high: the whole sheet fits a screen.
fn sheet_layout(photo: &RgbImage) -> Layout {
    let cell_height = 256;
    let cell_width = ((cell_height as u64 * photo.width() as u64) / photo.height().max(1) as u64)
        .clamp(64, 512) as u32;
    Layout {
        cell_width,
        ..Layout::new(cell_height, true)
    }
}

/// The written paths on stdout (`say`: a closed stdout is not an error here, the files are
/// written already).
fn report(written: &[PathBuf], photo: &Path) {
    eprintln!(
        "stylized {} with {} styles; before/after sheet last:",
        photo.display(),
        written.len().saturating_sub(1)
    );
    for p in written {
        crate::say::line(p.display());
    }
}
