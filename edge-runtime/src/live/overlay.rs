//! Text on frames: the FPS/latency overlay, toasts and the full-frame cards ("reconnecting"),
//! drawn with `stylecast::text` on images and on the window's pixel buffer.

use image::RgbImage;
use stylecast::text::{draw_text, text_size, Surface, GLYPH};

/// A window buffer: one `0x00RRGGBB` word per pixel, rows of `width`.
pub struct PixelBuf<'a> {
    pub buf: &'a mut [u32],
    pub width: usize,
    pub height: usize,
}

impl Surface for PixelBuf<'_> {
    fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }
    fn put(&mut self, x: usize, y: usize, [r, g, b]: [u8; 3]) {
        self.buf[y * self.width + x] = (r as u32) << 16 | (g as u32) << 8 | b as u32;
    }
}

/// Fills a rectangle, clipped.
pub fn fill_rect(s: &mut impl Surface, x: usize, y: usize, rw: usize, rh: usize, rgb: [u8; 3]) {
    let (w, h) = s.size();
    for yy in y..(y + rh).min(h) {
        for xx in x..(x + rw).min(w) {
            s.put(xx, yy, rgb);
        }
    }
}

/// Lines of text on a dark box at the top-left corner, readable over any picture.
pub fn draw_panel(s: &mut impl Surface, lines: &[String], scale: usize) {
    if lines.is_empty() {
        return;
    }
    let pad = 2 * scale;
    let line_h = (GLYPH + 2) * scale;
    let width = lines
        .iter()
        .map(|l| text_size(l, scale).0)
        .max()
        .unwrap_or(0);
    fill_rect(
        s,
        0,
        0,
        width + 2 * pad,
        lines.len() * line_h + 2 * pad,
        [0, 0, 0],
    );
    for (i, l) in lines.iter().enumerate() {
        draw_text(s, pad, pad + i * line_h, l, scale, [255, 255, 255]);
    }
}

/// Lines of text on a dark box centred at the bottom of the surface (toasts).
pub fn draw_toast(s: &mut impl Surface, text: &str, scale: usize) {
    let (w, h) = s.size();
    let (tw, th) = text_size(text, scale);
    let pad = 3 * scale;
    if tw + 2 * pad > w || th + 4 * pad > h {
        return;
    }
    let (x, y) = ((w - tw) / 2, h - th - 3 * pad);
    fill_rect(s, x - pad, y - pad, tw + 2 * pad, th + 2 * pad, [0, 0, 0]);
    draw_text(s, x, y, text, scale, [255, 255, 255]);
}

/// A full-frame message ("camera unavailable, reconnecting in ..."): centred lines on a
/// dark background, the first one in a warning colour, long lines cut to fit.
pub fn render_card(width: u32, height: u32, lines: &[String]) -> RgbImage {
    let mut img = RgbImage::from_pixel(width.max(1), height.max(1), image::Rgb([24, 26, 34]));
    let (w, h) = (img.width() as usize, img.height() as usize);
    let longest = lines
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(1)
        .max(1);
    let scale = (w * 9 / 10 / (longest * GLYPH))
        .clamp(1, 4)
        .min((h / (lines.len().max(1) * 12)).max(1));
    let max_chars = (w / (GLYPH * scale)).max(1);
    let line_h = (GLYPH + 4) * scale;
    let top = h.saturating_sub(lines.len() * line_h) / 2;
    for (i, line) in lines.iter().enumerate() {
        let text: String = if line.chars().count() > max_chars {
            line.chars()
                .take(max_chars.saturating_sub(2))
                .chain("..".chars())
                .collect()
        } else {
            line.clone()
        };
        let (tw, _) = text_size(&text, scale);
        let colour = if i == 0 {
            [255, 190, 60]
        } else {
            [220, 220, 220]
        };
        draw_text(
            &mut img,
            w.saturating_sub(tw) / 2,
            top + i * line_h,
            &text,
            scale,
            colour,
        );
    }
    img
}

/// Integer scale for overlay text so it stays legible on big windows.
pub fn text_scale_for(height: usize) -> usize {
    (height / 240).clamp(1, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_clipped_not_panicking() {
        let mut img = RgbImage::new(10, 5);
        draw_text(&mut img, 6, 3, "héllo", 3, [1, 2, 3]);
        let mut buf = vec![0u32; 12];
        draw_panel(
            &mut PixelBuf {
                buf: &mut buf,
                width: 4,
                height: 3,
            },
            &["long line".into()],
            2,
        );
        draw_toast(&mut img, "too long for this", 2);
    }

    #[test]
    fn card_has_its_size_and_text() {
        let card = render_card(
            160,
            120,
            &["CAMERA UNAVAILABLE".into(), "reconnecting in 1.0 s".into()],
        );
        assert_eq!(card.dimensions(), (160, 120));
        let bright = card.pixels().filter(|p| p.0[0] > 200).count();
        assert!(bright > 50, "text drawn: {bright}");
    }
}
