//! Headless file mode: stylize image files and folders to PNG files.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use stylecast::image_io::{images_in, load_rgb, save_png};
use stylecast::{StylizeOptions, Stylizer};

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

/// `photo.jpg` -> `<out>/photo.png`; name clashes get the style appended.
pub fn output_path(out_dir: &Path, input: &Path, style: &str) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    out_dir.join(format!("{stem}_{style}.png"))
}

/// Stylizes every input; returns the files written. Stops at the first bad input,
/// naming it (files already written stay).
pub fn run(
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
