//! Before/after contact sheets: one row per photo (the photo, then each style: every style
//! of a multi-style model, or the one `--style` names), with the
//! paintings in a top row when their images are at hand. What the README shows, made by a
//! command rather than by hand, so a new style's sheet is one line away.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};
use stylecast::io::image::{load_rgb, resize_longer_side};
use stylecast::{ModelMeta, Precision, StylizeOptions};

use crate::models::{ModelChoice, StyleEntry};
use stylecast::text::{draw_text, text_size};

/// The checked options of `sheet`.
#[derive(Debug, Clone)]
pub struct SheetSettings {
    /// Photo files or folders (searched recursively).
    pub inputs: Vec<PathBuf>,
    /// Model files or folders of them, a column each; empty: the shipped models.
    pub models: Vec<PathBuf>,
    /// `--style`: one style or blend of each model; None: every style.
    pub style: Option<String>,
    pub output: PathBuf,
    pub paintings: Option<PathBuf>,
    pub stylize_side: u32,
    pub layout: Layout,
    pub precision: Precision,
    /// The `--device` spec, opened when the run starts.
    pub device: String,
    pub quiet: bool,
}

/// Loads the models and photos, builds the sheet and writes it.
pub fn run(s: &SheetSettings) -> Result<()> {
    let model_paths = if s.models.is_empty() {
        ModelChoice::Shipped.paths()?
    } else {
        stylecast::io::model_file::expand_model_paths(&s.models)?
    };
    let device = stylecast::parse_device(&s.device)?;
    let stylizers =
        crate::models::load_entries(&model_paths, &device, s.precision, s.style.as_deref())?;
    if let Some(p) = s.paintings.as_deref().filter(|p| !p.is_dir()) {
        bail!("--paintings {}: not a folder", p.display());
    }
    let photos = crate::files::collect_inputs(&s.inputs)?;
    let img = build(&SheetContent {
        photos: &photos,
        stylizers: &stylizers,
        labels: column_labels(&stylizers),
        paintings: s.paintings.as_deref(),
        stylize_side: s.stylize_side,
        layout: s.layout,
        quiet: s.quiet,
    })?;
    save(&img, &s.output)?;
    if !s.quiet {
        crate::say::line(format!(
            "{} photos x {} styles -> {} ({}x{})",
            photos.len(),
            stylizers.len(),
            s.output.display(),
            img.width(),
            img.height()
        ));
    }
    Ok(())
}

/// Sheet geometry: every cell is `cell_width` x `cell_height`, images fitted inside.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub cell_width: u32,
    pub cell_height: u32,
    /// White space between cells.
    pub gap: u32,
    /// Height of the label strip above each column (0: no labels).
    pub label_height: u32,
}

const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);
const INK: [u8; 3] = [40, 40, 40];

impl Layout {
    pub fn new(cell_height: u32, labels: bool) -> Self {
        Self {
            // Photos are mostly 4:3 or 3:2 landscape.
            cell_width: cell_height * 3 / 2,
            cell_height,
            gap: 4,
            label_height: if labels { 20 } else { 0 },
        }
    }

    /// Size of a sheet of `rows` x `columns` cells.
    pub fn size(&self, rows: u32, columns: u32) -> (u32, u32) {
        (
            columns * self.cell_width + (columns + 1) * self.gap,
            self.label_height + rows * self.cell_height + (rows + 1) * self.gap,
        )
    }

    /// Top-left corner of cell (row, column).
    pub fn origin(&self, row: u32, column: u32) -> (u32, u32) {
        (
            self.gap + column * (self.cell_width + self.gap),
            self.label_height + self.gap + row * (self.cell_height + self.gap),
        )
    }
}

/// `img` scaled to fit a `w` x `h` box, aspect kept, up or down (Lanczos3).
pub fn fit(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let s = (w as f64 / img.width() as f64).min(h as f64 / img.height() as f64);
    let (nw, nh) = (
        ((img.width() as f64 * s).round() as u32).clamp(1, w),
        ((img.height() as f64 * s).round() as u32).clamp(1, h),
    );
    imageops::resize(img, nw, nh, FilterType::Lanczos3)
}

/// Lays out `cells[row][column]` (None: left blank), each centred in its cell, with
/// `labels` over the columns.
pub fn compose(cells: &[Vec<Option<RgbImage>>], labels: &[String], layout: &Layout) -> RgbImage {
    let rows = cells.len() as u32;
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let (w, h) = layout.size(rows, columns);
    let mut sheet = RgbImage::from_pixel(w, h, BACKGROUND);
    for (r, row) in cells.iter().enumerate() {
        for (c, img) in row.iter().enumerate() {
            let Some(img) = img else { continue };
            let thumb = fit(img, layout.cell_width, layout.cell_height);
            let (x, y) = layout.origin(r as u32, c as u32);
            let dx = (layout.cell_width - thumb.width()) / 2;
            let dy = (layout.cell_height - thumb.height()) / 2;
            imageops::overlay(&mut sheet, &thumb, (x + dx) as i64, (y + dy) as i64);
        }
    }
    if layout.label_height > 0 {
        for (c, label) in labels.iter().enumerate().take(columns as usize) {
            // Long names are cut to the cell (8 px per character).
            let max_chars = (layout.cell_width / 8) as usize;
            let text: String = label.chars().take(max_chars).collect();
            let (tw, th) = text_size(&text, 1);
            let (x, _) = layout.origin(0, c as u32);
            let x = x + (layout.cell_width.saturating_sub(tw as u32)) / 2;
            let y = (layout.label_height.saturating_sub(th as u32)) / 2 + layout.gap / 2;
            draw_text(&mut sheet, x as usize, y as usize, &text, 1, INK);
        }
    }
    sheet
}

/// Column labels: each entry's style name (or blend label), or its file name where
/// several columns share a style (versions of one style side by side).
pub fn column_labels(entries: &[StyleEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| {
            if entries.iter().filter(|o| o.name == e.name).count() > 1 {
                e.fallback_name()
            } else {
                e.name.clone()
            }
        })
        .collect()
}

/// The metadata a painting is looked up by: the file's, or for one style of a
/// multi-style file, its name.
fn painting_meta(e: &StyleEntry) -> ModelMeta {
    if e.multi {
        ModelMeta::new(e.name.clone(), e.stylizer.meta().config.clone())
    } else {
        e.stylizer.meta().clone()
    }
}

/// What to put on a sheet.
pub struct SheetContent<'a> {
    pub photos: &'a [PathBuf],
    pub stylizers: &'a [StyleEntry],
    /// A label per stylizer (see [`column_labels`]).
    pub labels: Vec<String>,
    /// Folder of paintings for the top row, if any.
    pub paintings: Option<&'a Path>,
    /// Photos are stylized at this longer side, then shrunk into their cells.
    pub stylize_side: u32,
    pub layout: Layout,
    pub quiet: bool,
}

/// Stylizes every photo with every model and composes the sheet.
pub fn build(args: &SheetContent) -> Result<RgbImage> {
    let mut cells: Vec<Vec<Option<RgbImage>>> = Vec::new();
    let mut labels = vec!["photo".to_string()];
    labels.extend(args.labels.iter().cloned());
    if let Some(dir) = args.paintings {
        let mut row = vec![None];
        for e in args.stylizers {
            let found = painting_meta(e).find_painting(dir);
            if found.is_none() && !args.quiet {
                eprintln!(
                    "note: no painting for {} in {} (looked for its style image by name)",
                    e.name,
                    dir.display()
                );
            }
            row.push(found.map(|p| load_rgb(&p)).transpose()?);
        }
        cells.push(row);
    }
    let pb = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new((args.photos.len() * args.stylizers.len()) as u64)
    };
    let opts = StylizeOptions::default();
    for photo in args.photos {
        let img = load_rgb(photo)?;
        let img = if img.width().max(img.height()) > args.stylize_side {
            resize_longer_side(&img, args.stylize_side)
        } else {
            img
        };
        let mut row = vec![Some(img.clone())];
        for e in args.stylizers {
            let out = e.stylizer.stylize(&img, &opts).with_context(|| {
                format!("{}: stylizing with {} failed", photo.display(), e.name)
            })?;
            row.push(Some(out));
            pb.inc(1);
        }
        cells.push(row);
    }
    pb.finish_and_clear();
    Ok(compose(&cells, &labels, &args.layout))
}

/// Writes the sheet as JPEG (`.jpg`/`.jpeg`, quality 90: a sheet of paintings is large as
/// PNG) or PNG (anything else).
pub fn save(sheet: &RgbImage, path: &Path) -> Result<()> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create folder", dir.display()))?;
    }
    if ext == "jpg" || ext == "jpeg" {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 90)
            .encode_image(sheet)
            .with_context(|| format!("{}: encoding JPEG", path.display()))?;
        stylecast::atomic_write(path, &bytes)
            .with_context(|| format!("{}: cannot write", path.display()))?;
        Ok(())
    } else {
        Ok(stylecast::io::image::save_png(sheet, path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(w: u32, h: u32, c: [u8; 3]) -> RgbImage {
        RgbImage::from_pixel(w, h, Rgb(c))
    }

    #[test]
    fn cells_are_fitted_centred_and_aligned() {
        let layout = Layout::new(40, true);
        assert_eq!(layout.cell_width, 60);
        let cells = vec![
            vec![None, Some(solid(30, 60, [255, 0, 0]))],
            vec![
                Some(solid(120, 40, [0, 0, 255])),
                Some(solid(6, 4, [0, 255, 0])),
            ],
        ];
        let sheet = compose(&cells, &["photo".into(), "red".into()], &layout);
        assert_eq!(sheet.dimensions(), layout.size(2, 2));
        assert_eq!(sheet.dimensions(), (2 * 60 + 3 * 4, 20 + 2 * 40 + 3 * 4));
        // Row 0, column 0 is blank; column 1 holds the tall red image, 20 px wide, centred.
        let (x0, y0) = layout.origin(0, 0);
        assert_eq!(sheet.get_pixel(x0 + 30, y0 + 20).0, [255, 255, 255]);
        let (x1, y1) = layout.origin(0, 1);
        assert_eq!(sheet.get_pixel(x1 + 30, y1 + 20).0, [255, 0, 0]);
        assert_eq!(sheet.get_pixel(x1 + 5, y1 + 20).0, [255, 255, 255]);
        // The wide blue image fills its cell's width, letterboxed top and bottom.
        let (x2, y2) = layout.origin(1, 0);
        assert_eq!(sheet.get_pixel(x2 + 1, y2 + 20).0, [0, 0, 255]);
        assert_eq!(sheet.get_pixel(x2 + 30, y2 + 2).0, [255, 255, 255]);
        // A small image is scaled up to fill the cell.
        let (x3, y3) = layout.origin(1, 1);
        assert_eq!(sheet.get_pixel(x3 + 2, y3 + 20).0, [0, 255, 0]);
        // Labels draw ink in the strip above the columns.
        let ink = (0..sheet.width())
            .flat_map(|x| (0..20).map(move |y| (x, y)))
            .filter(|&(x, y)| sheet.get_pixel(x, y).0 == INK)
            .count();
        assert!(ink > 20, "no label pixels");
    }

    #[test]
    fn columns_of_one_style_are_labelled_by_file_name() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let paths = [
            root.join("the_scream.safetensors"),
            PathBuf::from("/elsewhere/starry_a.safetensors"),
            PathBuf::from("/elsewhere/starry_b.safetensors"),
        ];
        let load = |p: &str, path: &Path| {
            let st = stylecast::Stylizer::load(
                &root.join(p),
                &candle_core::Device::Cpu,
                stylecast::Precision::F32,
            )
            .unwrap();
            crate::models::styles_of(path, st, None).unwrap().remove(0)
        };
        let stylizers = [
            load("the_scream.safetensors", &paths[0]),
            load("starry_night.safetensors", &paths[1]),
            load("starry_night.safetensors", &paths[2]),
        ];
        assert_eq!(
            column_labels(&stylizers),
            ["the_scream", "starry_a", "starry_b"]
        );
    }
}
