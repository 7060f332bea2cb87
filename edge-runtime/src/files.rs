//! Headless file mode (`--input ... --output DIR`): stylize image files and folders, once
//! per style, into one output folder (a multi-style model: once per style it holds, or
//! for the one style or blend `--style` names).
//!
//! Names: a file found in a given folder keeps its path below that folder
//! (`photos/trip/photo.jpg` -> `out/trip/photo_<style>.png`); a file given by name goes to
//! the top of the output folder. Two inputs that would still share a name (two files given
//! as `a/photo.jpg b/photo.jpg`, `photo.jpg` beside `photo.png`) get `-2`, `-3`, ... in
//! input order, so one input never overwrites another's result. A file that cannot be
//! read is named on stderr, skipped and counted, and the run exits non-zero at the end.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use stylecast::io::image::{load_rgb, save_image, walk_images, OutputFormat};
use stylecast::{Precision, StylizeOptions};

use crate::models::{ModelChoice, StyleEntry};
use crate::say;

/// The checked options of a file run.
#[derive(Debug, Clone)]
pub struct FileSettings {
    /// Image files or folders (searched recursively).
    pub inputs: Vec<PathBuf>,
    pub output: PathBuf,
    pub models: ModelChoice,
    /// `--style`: the style or blend of each model to use; None: every style.
    pub style: Option<String>,
    /// The `--device` spec, opened when the run starts.
    pub device: String,
    pub precision: Precision,
    pub stylize: StylizeOptions,
    pub format: OutputFormat,
    /// Keep output files that exist already (default: replace them, and say so).
    pub no_clobber: bool,
    /// One JSON object per result on stdout; human text on stderr.
    pub json: bool,
    pub quiet: bool,
}

/// One input and the name its results get, before the style and extension:
/// `trip/photo` for `photos/trip/photo.jpg`.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub input: PathBuf,
    pub name: PathBuf,
}

/// The inputs of a run, and what could not be looked at.
#[derive(Debug, Default)]
pub struct Inputs {
    pub items: Vec<Item>,
    /// Folders or links a walk could not read, with why.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Expands files and folders (recursively, not into `skip`: the output folder) into the
/// images to process with their output names, unique within the run. A given path that
/// does not exist is an error before any work; an unreadable subfolder is reported.
pub fn collect(inputs: &[PathBuf], skip: Option<&Path>) -> Result<Inputs> {
    let skip: Vec<PathBuf> = skip.into_iter().map(Path::to_path_buf).collect();
    let mut found = Inputs::default();
    let mut natural = Vec::new();
    for input in inputs {
        if input.is_dir() {
            if let (Ok(a), Some(Ok(b))) =
                (input.canonicalize(), skip.first().map(|s| s.canonicalize()))
            {
                if a == b {
                    bail!(
                        "{}: the output folder is the input folder; its results would be read as \
                         inputs next time: choose another --output",
                        input.display()
                    );
                }
            }
            let walk = walk_images(input, &skip);
            if walk.images.is_empty() && walk.unreadable.is_empty() {
                return Err(stylecast::Error::NoImages { dir: input.clone() }.into());
            }
            for f in walk.images {
                let rel = f.strip_prefix(input).unwrap_or(&f).with_extension("");
                natural.push((f, rel));
            }
            found.unreadable.extend(walk.unreadable);
        } else if input.exists() {
            let stem = input.file_stem().unwrap_or("image".as_ref());
            natural.push((input.clone(), PathBuf::from(stem)));
        } else {
            bail!("{}: no such file or folder", input.display());
        }
    }
    found.items = unique_names(natural);
    Ok(found)
}

/// Gives every input a name no other input of the run has: the first keeps its natural
/// name, later ones get `-2`, `-3`, ... (skipping names other inputs have naturally).
fn unique_names(natural: Vec<(PathBuf, PathBuf)>) -> Vec<Item> {
    let all: HashSet<PathBuf> = natural.iter().map(|(_, n)| n.clone()).collect();
    let mut taken = HashSet::new();
    let mut items = Vec::with_capacity(natural.len());
    for (input, name) in natural {
        let mut pick = name.clone();
        let mut k = 2u64;
        while taken.contains(&pick) || (pick != name && all.contains(&pick)) {
            let mut s = name.as_os_str().to_owned();
            s.push(format!("-{k}"));
            pick = PathBuf::from(s);
            k += 1;
        }
        taken.insert(pick.clone());
        items.push(Item { input, name: pick });
    }
    items
}

/// `trip/photo` -> `<out>/trip/photo_<style>.<ext>`: the style is always in the name, so
/// several models can write into one folder.
pub fn output_path(out_dir: &Path, name: &Path, style: &str, format: OutputFormat) -> PathBuf {
    let mut file = name.as_os_str().to_owned();
    file.push(format!("_{style}.{}", format.extension()));
    out_dir.join(file)
}

/// The style names put in output names, from (style name, fallback) pairs: the style's
/// name, or the fallback (see `StyleEntry::fallback_name`: the file's name) where two
/// entries share a style (e.g. two style weights of one painting).
pub fn style_tags(styles: &[(String, String)]) -> Vec<String> {
    let plain: Vec<String> = styles.iter().map(|(s, _)| sanitize(s)).collect();
    let mut seen = HashSet::new();
    let mut tags = Vec::with_capacity(plain.len());
    for (i, (_, fallback)) in styles.iter().enumerate() {
        let shared = plain.iter().filter(|p| **p == plain[i]).count() > 1;
        let base = if shared {
            sanitize(fallback)
        } else {
            plain[i].clone()
        };
        let mut tag = base.clone();
        let mut k = 2;
        while !seen.insert(tag.clone()) {
            tag = format!("{base}-{k}");
            k += 1;
        }
        tags.push(tag);
    }
    tags
}

/// What happened to one (input, model) pair.
#[derive(Debug, Default)]
struct Tally {
    written: usize,
    replaced: usize,
    kept: usize,
    failed: Vec<PathBuf>,
}

/// The output-name tag of every entry (see [`style_tags`]).
pub fn entry_tags(entries: &[StyleEntry]) -> Vec<String> {
    let named: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e.name.clone(), e.fallback_name()))
        .collect();
    style_tags(&named)
}

/// Stylizes every input with every style. Bad inputs are skipped and counted; the error
/// at the end says how many.
pub fn run(s: &FileSettings) -> Result<()> {
    let model_paths = s.models.paths()?;
    let device = stylecast::parse_device(&s.device)?;
    let stylizers =
        crate::models::load_entries(&model_paths, &device, s.precision, s.style.as_deref())?;
    let tags = entry_tags(&stylizers);
    let inputs = collect(&s.inputs, Some(&s.output))?;
    std::fs::create_dir_all(&s.output)
        .with_context(|| format!("{}: cannot create output folder", s.output.display()))?;
    let mut tally = Tally::default();
    for (path, why) in &inputs.unreadable {
        eprintln!(
            "warning: {}: skipped, cannot be read: {why}",
            path.display()
        );
        report_failure(s, path, why);
        tally.failed.push(path.clone());
    }
    let pb = if s.quiet || s.json || inputs.items.len() < 2 {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(inputs.items.len() as u64)
    };
    for item in &inputs.items {
        pb.suspend(|| stylize_item(s, item, &stylizers, &tags, &mut tally));
        pb.inc(1);
    }
    pb.finish_and_clear();
    summarize(s, &inputs, stylizers.len(), &tally)
}

/// Reads one input and writes its result for every style; problems go into `tally`.
fn stylize_item(
    s: &FileSettings,
    item: &Item,
    stylizers: &[StyleEntry],
    tags: &[String],
    tally: &mut Tally,
) {
    let img = match load_rgb(&item.input) {
        Ok(img) => img,
        Err(e) => {
            // The library's message names the file.
            eprintln!("warning: skipped: {e}");
            report_failure(s, &item.input, &e.to_string());
            tally.failed.push(item.input.clone());
            return;
        }
    };
    for (entry, tag) in stylizers.iter().zip(tags) {
        let stylizer = &entry.stylizer;
        let dst = output_path(&s.output, &item.name, tag, s.format);
        let existed = dst.exists();
        if existed && s.no_clobber {
            tally.kept += 1;
            if s.json {
                say::line(serde_json::json!({
                    "input": item.input, "output": dst, "style": entry.name,
                    "skipped": "output exists (--no-clobber)",
                }));
            } else if !s.quiet {
                eprintln!("{}: kept (exists; --no-clobber)", dst.display());
            }
            continue;
        }
        let t = Instant::now();
        let done = stylizer
            .stylize(&img, &s.stylize)
            .with_context(|| format!("{}: stylizing failed", item.input.display()))
            .and_then(|out| {
                if let Some(dir) = dst.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("{}: cannot create folder", dir.display()))?;
                }
                save_image(&out, &dst, s.format)?;
                Ok(out.dimensions())
            });
        match done {
            Ok((w, h)) => {
                tally.written += 1;
                tally.replaced += existed as usize;
                let ms = t.elapsed().as_secs_f64() * 1e3;
                if s.json {
                    say::line(serde_json::json!({
                        "input": item.input, "output": dst, "width": w, "height": h,
                        "style": entry.name, "ms": (ms * 10.0).round() / 10.0,
                    }));
                } else if !s.quiet {
                    let note = if existed { " (replaced)" } else { "" };
                    say::line(format!(
                        "{} -> {}{note}",
                        item.input.display(),
                        dst.display()
                    ));
                }
            }
            Err(e) => {
                eprintln!("warning: skipped: {e:#}");
                report_failure(s, &item.input, &format!("{e:#}"));
                tally.failed.push(item.input.clone());
            }
        }
    }
}

/// A failure as a JSON line too, so a script sees every input accounted for.
fn report_failure(s: &FileSettings, input: &Path, why: &str) {
    if s.json {
        say::line(serde_json::json!({ "input": input, "error": why }));
    }
}

fn summarize(s: &FileSettings, inputs: &Inputs, models: usize, t: &Tally) -> Result<()> {
    if !s.quiet {
        let mut line = format!(
            "{} images stylized with {models} style(s) into {}",
            t.written,
            s.output.display()
        );
        if t.replaced > 0 {
            line += &format!(
                "; {} existing files replaced (--no-clobber keeps them)",
                t.replaced
            );
        }
        if t.kept > 0 {
            line += &format!("; {} existing files kept", t.kept);
        }
        eprintln!("{line}");
    } else if t.replaced > 0 {
        eprintln!(
            "note: {} existing files in {} replaced (--no-clobber keeps them)",
            t.replaced,
            s.output.display()
        );
    }
    if !t.failed.is_empty() {
        let mut names: Vec<String> = t.failed.iter().map(|p| p.display().to_string()).collect();
        names.dedup();
        let shown = names.len().min(5);
        bail!(
            "{} of {} inputs failed and were skipped: {}{}",
            names.len(),
            inputs.items.len() + inputs.unreadable.len(),
            names[..shown].join(", "),
            if names.len() > shown { ", ..." } else { "" }
        );
    }
    Ok(())
}

/// Expands files and folders (recursively) into the images to process, for commands
/// that stop at the first problem (`sheet`).
pub fn collect_inputs(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let found = collect(inputs, None)?;
    if let Some((path, why)) = found.unreadable.first() {
        bail!("{}: cannot be read: {why}", path.display());
    }
    Ok(found.items.into_iter().map(|i| i.input).collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|i| i.name.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn equal_names_get_numbers_in_input_order() {
        let n = |a: &str, b: &str| (PathBuf::from(a), PathBuf::from(b));
        let items = unique_names(vec![
            n("a/photo.jpg", "photo"),
            n("b/photo.jpg", "photo"),
            n("photo-2.png", "photo-2"),
            n("c/photo.png", "photo"),
        ]);
        // photo-2 is a real input's own name, so the second photo skips it.
        assert_eq!(names(&items), ["photo", "photo-3", "photo-2", "photo-4"]);
    }

    #[test]
    fn folders_are_mirrored_and_the_output_folder_is_not_walked() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("in/x")).unwrap();
        std::fs::create_dir_all(d.join("in/y")).unwrap();
        std::fs::create_dir_all(d.join("in/out")).unwrap();
        for f in [
            "in/x/photo.jpg",
            "in/y/photo.jpg",
            "in/out/photo_s.png",
            "b.png",
        ] {
            std::fs::write(d.join(f), b"").unwrap();
        }
        let found = collect(&[d.join("in"), d.join("b.png")], Some(&d.join("in/out"))).unwrap();
        assert_eq!(names(&found.items), ["x/photo", "y/photo", "b"]);
        let out = output_path(
            Path::new("o"),
            &found.items[1].name,
            "s",
            OutputFormat::Jpeg,
        );
        assert_eq!(out, Path::new("o/y/photo_s.jpg"));
        let e = collect(&[d.join("in")], Some(&d.join("in"))).unwrap_err();
        assert!(format!("{e:#}").contains("output folder is the input folder"));
        let e = collect(&[d.join("nope")], None).unwrap_err();
        assert!(format!("{e:#}").contains("nope: no such file"));
    }

    #[test]
    fn models_sharing_a_style_are_told_apart_by_file_name() {
        let (a, b, c) = (
            Path::new("m/starry.safetensors"),
            Path::new("m/starry_v2.safetensors"),
            Path::new("m/scream.safetensors"),
        );
        let stem = |p: &Path| p.file_stem().unwrap().to_string_lossy().into_owned();
        let tags = style_tags(&[
            ("starry night".into(), stem(a)),
            ("starry night".into(), stem(b)),
            ("scream".into(), stem(c)),
        ]);
        assert_eq!(tags, ["starry", "starry_v2", "scream"]);
        assert_eq!(
            style_tags(&[("s".into(), stem(a)), ("s".into(), stem(a))]),
            ["starry", "starry-2"]
        );
    }
}
