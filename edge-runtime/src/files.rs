//! Headless file mode (`--input ... --output DIR`): stylize image files and folders to
//! PNG files, once per model.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use stylecast::io::image::{images_in, load_rgb, save_png};
use stylecast::{Precision, StylizeOptions, Stylizer};

use crate::models::ModelChoice;

/// The checked options of a file run.
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// Image files or folders (searched recursively).
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
    pub models: ModelChoice,
    /// The `--device` spec, opened when the run starts.
    pub device: String,
    pub precision: Precision,
    pub stylize: StylizeOptions,
    pub quiet: bool,
}

/// Stylizes every input with every model.
pub fn run(s: &FileSettings) -> Result<()> {
    let models = s.models.paths()?;
    let device = stylecast::parse_device(&s.device)?;
    for m in &models {
        let stylizer = Stylizer::load(m, &device, s.precision)?;
        let written = stylize_files(&stylizer, &s.inputs, &s.output, &s.stylize, s.quiet)?;
        if !s.quiet {
            println!(
                "{} images stylized with {}",
                written.len(),
                stylizer.meta().style
            );
        }
    }
    Ok(())
}

/// Expands files and folders (recursively) into the list of images to process.
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for input in inputs {
        if input.is_dir() {
            out.extend(images_in(input)?);
        } else if input.exists() {
            out.push(input.clone());
        } else {
            bail!("{}: no such file or folder", input.display());
        }
    }
    Ok(out)
}

/// `photo.jpg` -> `<out>/photo_<style>.png`: the style is always in the name, so several
/// models can write into one folder.
pub fn output_path(out_dir: &Path, input: &Path, style: &str) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    out_dir.join(format!("{stem}_{style}.png"))
}

/// Stylizes every input with one model; returns the files written. Stops at the first
/// bad input, naming it (files already written stay).
pub fn stylize_files(
    stylizer: &Stylizer,
    inputs: &[PathBuf],
    out_dir: &Path,
    opts: &StylizeOptions,
    quiet: bool,
) -> Result<Vec<PathBuf>> {
    let files = collect_inputs(inputs)?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("{}: cannot create output folder", out_dir.display()))?;
    let pb = if quiet || files.len() < 2 {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(files.len() as u64)
    };
    let style = sanitize(&stylizer.meta().style);
    let mut written = Vec::new();
    for f in &files {
        let img = load_rgb(f)?;
        let out = stylizer
            .stylize(&img, opts)
            .with_context(|| format!("{}: stylizing failed", f.display()))?;
        let dst = output_path(out_dir, f, &style);
        save_png(&out, &dst)?;
        if !quiet {
            pb.suspend(|| println!("{} -> {}", f.display(), dst.display()));
        }
        written.push(dst);
        pb.inc(1);
    }
    pb.finish_and_clear();
    Ok(written)
}

/// A style name safe to put in a file name.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
