//! Turning stylized frames into pictures: the view mode (original / stylized / split), the
//! cross-fade between styles, scaling to the window, and writing frames to files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use image::{imageops::FilterType, RgbImage};
use stylecast::image_io::save_png;

use super::pipeline::{Stylized, Throttle};

/// Source sample positions and weights for one axis of a bilinear resize.
struct Axis {
    i0: Vec<usize>,
    i1: Vec<usize>,
    /// Weight of `i1` in 1/256; 0 where the sample falls on a source pixel.
    f: Vec<u32>,
}

impl Axis {
    fn new(src: usize, dst: usize) -> Self {
        let (mut i0, mut i1, mut f) = (
            Vec::with_capacity(dst),
            Vec::with_capacity(dst),
            Vec::with_capacity(dst),
        );
        let ratio = src as f64 / dst as f64;
        for d in 0..dst {
            // Pixel centres map onto pixel centres, so equal sizes copy exactly.
            let s = ((d as f64 + 0.5) * ratio - 0.5).max(0.0);
            let a = (s.floor() as usize).min(src - 1);
            i0.push(a);
            i1.push((a + 1).min(src - 1));
            f.push((((s - a as f64) * 256.0).round() as u32).min(256));
        }
        Self { i0, i1, f }
    }
}

#[inline]
fn bilerp(p00: u8, p01: u8, p10: u8, p11: u8, fx: u32, fy: u32) -> u32 {
    let top = p00 as u32 * (256 - fx) + p01 as u32 * fx;
    let bottom = p10 as u32 * (256 - fx) + p11 as u32 * fx;
    (top * (256 - fy) + bottom * fy + (1 << 15)) >> 16
}

/// Calls `put(x, y, rgb)` for every pixel of a `dw`x`dh` bilinear resize of `src`.
fn for_each_scaled(
    src: &RgbImage,
    xs: &Axis,
    ys: &Axis,
    mut put: impl FnMut(usize, usize, [u32; 3]),
) {
    let sw = src.width() as usize;
    let raw = src.as_raw();
    for (y, ((&y0, &y1), &fy)) in ys.i0.iter().zip(&ys.i1).zip(&ys.f).enumerate() {
        let (r0, r1) = (
            &raw[y0 * sw * 3..(y0 + 1) * sw * 3],
            &raw[y1 * sw * 3..(y1 + 1) * sw * 3],
        );
        for (x, ((&x0, &x1), &fx)) in xs.i0.iter().zip(&xs.i1).zip(&xs.f).enumerate() {
            let px = [0, 1, 2].map(|c| {
                bilerp(
                    r0[x0 * 3 + c],
                    r0[x1 * 3 + c],
                    r1[x0 * 3 + c],
                    r1[x1 * 3 + c],
                    fx,
                    fy,
                )
            });
            put(x, y, px);
        }
    }
}

/// Resizes for the network input: bilinear up to 2x down (fast, what cameras need),
/// a proper triangle filter beyond that (bilinear would alias).
pub fn resize_rgb(src: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (sw, sh) = src.dimensions();
    if (sw, sh) == (w, h) {
        return src.clone();
    }
    if sw > 2 * w || sh > 2 * h {
        return image::imageops::resize(src, w, h, FilterType::Triangle);
    }
    let (xs, ys) = (
        Axis::new(sw as usize, w as usize),
        Axis::new(sh as usize, h as usize),
    );
    let mut out = vec![0u8; w as usize * h as usize * 3];
    for_each_scaled(src, &xs, &ys, |x, y, p| {
        let i = (y * w as usize + x) * 3;
        out[i..i + 3].copy_from_slice(&[p[0] as u8, p[1] as u8, p[2] as u8]);
    });
    RgbImage::from_raw(w, h, out).unwrap_or_else(|| RgbImage::new(w, h))
}

/// The window's pixels (`0x00RRGGBB`), with a picture fitted in at a given aspect ratio.
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub buf: Vec<u32>,
    tables: Option<ScaleTables>,
}

/// Scaling tables for one (source size, target size), reused while those stay the same.
struct ScaleTables {
    key: (u32, u32, usize, usize),
    xs: Axis,
    ys: Axis,
}

impl Canvas {
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            buf: vec![0; width * height],
            tables: None,
        }
    }

    pub fn resize(&mut self, width: usize, height: usize) {
        if (width, height) != (self.width, self.height) {
            *self = Self::new(width, height);
        }
    }

    /// The rectangle (x, y, w, h) a picture of aspect `aspect` (w/h) fills, centred.
    pub fn fit(&self, aspect: f64) -> (usize, usize, usize, usize) {
        let (cw, ch) = (self.width as f64, self.height as f64);
        let (w, h) = if cw / ch > aspect {
            ((ch * aspect).round(), ch)
        } else {
            (cw, (cw / aspect).round())
        };
        let (w, h) = (
            (w as usize).clamp(1, self.width),
            (h as usize).clamp(1, self.height),
        );
        ((self.width - w) / 2, (self.height - h) / 2, w, h)
    }

    /// Draws `img` scaled (bilinear) into the fitted rectangle, black around it.
    pub fn draw_fit(&mut self, img: &RgbImage, aspect: f64) {
        let (x0, y0, w, h) = self.fit(aspect);
        let key = (img.width(), img.height(), w, h);
        if self.tables.as_ref().map(|t| t.key) != Some(key) {
            self.tables = Some(ScaleTables {
                key,
                xs: Axis::new(img.width() as usize, w),
                ys: Axis::new(img.height() as usize, h),
            });
        }
        if (w, h) != (self.width, self.height) {
            // Clear the bars: overlay text drawn there last time would stay otherwise.
            self.buf.fill(0);
        }
        let Some(ScaleTables { xs, ys, .. }) = &self.tables else {
            return;
        };
        let (buf, cw) = (&mut self.buf, self.width);
        for_each_scaled(img, xs, ys, |x, y, [r, g, b]| {
            buf[(y0 + y) * cw + x0 + x] = r << 16 | g << 8 | b
        });
    }

    /// The canvas as an image (for tests).
    #[cfg(test)]
    pub fn to_image(&self) -> RgbImage {
        let raw = self
            .buf
            .iter()
            .flat_map(|p| [(p >> 16) as u8, (p >> 8) as u8, *p as u8])
            .collect();
        RgbImage::from_raw(self.width as u32, self.height as u32, raw)
            .unwrap_or_else(|| RgbImage::new(1, 1))
    }
}

/// What the picture shows (`o` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewMode {
    Stylized,
    Original,
    /// Original on the left half, stylized on the right.
    Split,
}

impl ViewMode {
    pub fn next(self) -> Self {
        match self {
            ViewMode::Stylized => ViewMode::Original,
            ViewMode::Original => ViewMode::Split,
            ViewMode::Split => ViewMode::Stylized,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ViewMode::Stylized => "stylized",
            ViewMode::Original => "original",
            ViewMode::Split => "split",
        }
    }
}

/// Builds the picture from a stylized frame; cross-fades when the style cycles.
pub struct Compositor {
    fade_len: Duration,
    /// Set when a cycle switched style: the first frame of that style starts a fade.
    pending_fade_to: Option<usize>,
    fade: Option<(RgbImage, Instant)>,
    last: Option<RgbImage>,
}

impl Compositor {
    pub fn new(fade_len: Duration) -> Self {
        Self {
            fade_len,
            pending_fade_to: None,
            fade: None,
            last: None,
        }
    }

    pub fn fade_to(&mut self, style: usize) {
        self.pending_fade_to = Some(style);
    }

    pub fn fading(&self) -> bool {
        self.fade.is_some()
    }

    pub fn compose(&mut self, f: &Stylized, view: ViewMode, now: Instant) -> RgbImage {
        let mut pic = match view {
            _ if f.card => f.output.clone(),
            ViewMode::Stylized => f.output.clone(),
            ViewMode::Original => f.input.clone(),
            ViewMode::Split => {
                let mut p = f.output.clone();
                let (w, h) = p.dimensions();
                for y in 0..h {
                    for x in 0..w / 2 {
                        p.put_pixel(x, y, *f.input.get_pixel(x, y));
                    }
                    p.put_pixel(w / 2, y, image::Rgb([255, 255, 255]));
                }
                p
            }
        };
        if !f.card && self.pending_fade_to == Some(f.style) {
            self.pending_fade_to = None;
            if let Some(last) = self
                .last
                .take()
                .filter(|l| l.dimensions() == pic.dimensions())
            {
                self.fade = Some((last, now));
            }
        }
        if let Some((from, start)) = &self.fade {
            let t =
                now.duration_since(*start).as_secs_f32() / self.fade_len.as_secs_f32().max(1e-3);
            if t >= 1.0 || from.dimensions() != pic.dimensions() {
                self.fade = None;
            } else {
                pic = stylecast::stylize::blend(from, &pic, t);
            }
        }
        if self.fade.is_none() {
            self.last = Some(pic.clone());
        }
        pic
    }
}

/// `--output DIR --every N`: writes every Nth picture as `frame_NNNNNN.png`.
pub struct FrameWriter {
    dir: PathBuf,
    every: u64,
    seen: u64,
    /// Frames to skip before the next write.
    skip: u64,
    pub written: u64,
    warn: Throttle,
}

impl FrameWriter {
    pub fn new(dir: &Path, every: u64) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create output folder", dir.display()))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            every: every.max(1),
            seen: 0,
            skip: 0,
            written: 0,
            warn: Throttle::new(Duration::from_secs(10)),
        })
    }

    /// A write failure (disk full, folder removed) is reported, not fatal: a kiosk keeps
    /// showing frames.
    pub fn offer(&mut self, pic: &RgbImage) {
        self.seen += 1;
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        self.skip = self.every - 1;
        let path = self.dir.join(format!("frame_{:06}.png", self.seen));
        match save_png(pic, &path) {
            Ok(()) => self.written += 1,
            Err(e) => {
                if self.warn.ready() {
                    eprintln!("warning: {}: {e}", path.display());
                }
            }
        }
    }
}

/// `s`: a PNG named by the time, in `dir`.
pub fn save_snapshot(dir: &Path, pic: &RgbImage) -> Result<PathBuf> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let path = dir.join(format!("snapshot_{ms}.png"));
    save_png(pic, &path).with_context(|| format!("{}: cannot save snapshot", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 77])
        })
    }

    #[test]
    fn equal_sizes_copy_exactly() {
        let img = gradient(40, 30);
        assert_eq!(resize_rgb(&img, 40, 30), img);
        let mut c = Canvas::new(40, 30);
        c.draw_fit(&img, 40.0 / 30.0);
        assert_eq!(c.to_image(), img);
    }

    #[test]
    fn doubling_interpolates_between_pixels() {
        let img = RgbImage::from_fn(2, 1, |x, _| image::Rgb([if x == 0 { 0 } else { 200 }; 3]));
        let out = resize_rgb(&img, 4, 1);
        let r: Vec<u8> = out.pixels().map(|p| p.0[0]).collect();
        // Centres at source x = -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1).
        assert_eq!(r, [0, 50, 150, 200]);
        assert_eq!(
            resize_rgb(&gradient(640, 480), 64, 48).dimensions(),
            (64, 48)
        );
    }

    #[test]
    fn fit_letterboxes_to_the_aspect() {
        let c = Canvas::new(800, 600);
        assert_eq!(c.fit(16.0 / 9.0), (0, 75, 800, 450));
        assert_eq!(c.fit(4.0 / 3.0), (0, 0, 800, 600));
        assert_eq!(c.fit(1.0), (100, 0, 600, 600));
        let mut c = Canvas::new(100, 100);
        c.draw_fit(&RgbImage::from_pixel(10, 5, image::Rgb([255, 0, 0])), 2.0);
        assert_eq!(c.buf[0], 0, "black bar");
        assert_eq!(c.buf[50 * 100 + 50], 0xFF0000);
    }

    fn frame(style: usize, v: u8) -> Stylized {
        Stylized {
            input: RgbImage::from_pixel(4, 2, image::Rgb([10, 10, 10])),
            output: RgbImage::from_pixel(4, 2, image::Rgb([v, v, v])),
            source_size: (4, 2),
            captured: Instant::now(),
            style,
            card: false,
        }
    }

    #[test]
    fn views_pick_input_output_or_both() {
        let mut c = Compositor::new(Duration::from_millis(500));
        let f = frame(0, 200);
        let now = Instant::now();
        assert_eq!(
            c.compose(&f, ViewMode::Stylized, now).get_pixel(0, 0).0,
            [200; 3]
        );
        assert_eq!(
            c.compose(&f, ViewMode::Original, now).get_pixel(3, 1).0,
            [10; 3]
        );
        let split = c.compose(&f, ViewMode::Split, now);
        assert_eq!(split.get_pixel(0, 0).0, [10; 3]);
        assert_eq!(split.get_pixel(3, 0).0, [200; 3]);
    }

    #[test]
    fn cycling_cross_fades_from_the_last_picture() {
        let mut c = Compositor::new(Duration::from_millis(1000));
        let t0 = Instant::now();
        c.compose(&frame(0, 0), ViewMode::Stylized, t0);
        c.fade_to(1);
        // A frame still in flight with the old style does not start the fade.
        assert_eq!(
            c.compose(&frame(0, 0), ViewMode::Stylized, t0)
                .get_pixel(0, 0)
                .0,
            [0; 3]
        );
        assert_eq!(
            c.compose(&frame(1, 200), ViewMode::Stylized, t0)
                .get_pixel(0, 0)
                .0,
            [0; 3]
        );
        assert!(c.fading());
        let mid = c.compose(
            &frame(1, 200),
            ViewMode::Stylized,
            t0 + Duration::from_millis(500),
        );
        assert_eq!(mid.get_pixel(0, 0).0, [100; 3]);
        let end = c.compose(
            &frame(1, 200),
            ViewMode::Stylized,
            t0 + Duration::from_millis(1100),
        );
        assert_eq!(end.get_pixel(0, 0).0, [200; 3]);
        assert!(!c.fading());
    }

    #[test]
    fn writer_keeps_every_nth_frame() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = FrameWriter::new(&dir.path().join("out"), 3).unwrap();
        for _ in 0..7 {
            w.offer(&RgbImage::new(2, 2));
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["frame_000001.png", "frame_000004.png", "frame_000007.png"]
        );
        assert_eq!(w.written, 3);
    }
}
