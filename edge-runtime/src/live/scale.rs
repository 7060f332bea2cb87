//! Bilinear scaling, written out because it runs on every frame: the captured frame to
//! the network's input size (`resize_rgb`) and the picture into the window (`Canvas`);
//! also the size a window opens at for a source (`window_size`).

use image::{imageops::FilterType, RgbImage};

/// Largest window opened for a source when not full-screen (it stays resizable).
const MAX_WINDOW: (u32, u32) = (1280, 800);

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

/// The window for a source: its own size, shrunk (keeping the aspect) to fit MAX_WINDOW.
pub fn window_size((w, h): (u32, u32)) -> (usize, usize) {
    let (w, h) = (w.max(1) as f64, h.max(1) as f64);
    let k = (MAX_WINDOW.0 as f64 / w)
        .min(MAX_WINDOW.1 as f64 / h)
        .min(1.0);
    (
        ((w * k).round() as usize).max(1),
        ((h * k).round() as usize).max(1),
    )
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

    #[test]
    fn window_fits_big_sources_and_keeps_small_ones() {
        assert_eq!(window_size((160, 120)), (160, 120));
        assert_eq!(window_size((1920, 1080)), (1280, 720));
        assert_eq!(window_size((3000, 4000)), (600, 800));
    }
}
