//! Bitmap text on pictures: labels on preview sheets and loss curves, the live overlay and
//! its cards. The 8x8 font of `font8x8` scaled by whole pixels needs no system fonts, so it
//! works the same on a headless training box and a kiosk.

use font8x8::legacy::BASIC_LEGACY;
use image::RgbImage;

/// Something text can be drawn on: an RGB image, or a window's pixel buffer.
pub trait Surface {
    fn size(&self) -> (usize, usize);
    fn put(&mut self, x: usize, y: usize, rgb: [u8; 3]);
}

impl Surface for RgbImage {
    fn size(&self) -> (usize, usize) {
        (self.width() as usize, self.height() as usize)
    }
    fn put(&mut self, x: usize, y: usize, rgb: [u8; 3]) {
        self.put_pixel(x as u32, y as u32, image::Rgb(rgb));
    }
}

/// A glyph's width and height in font pixels.
pub const GLYPH: usize = 8;

/// Pixel size of `text` at `scale` (one line).
pub fn text_size(text: &str, scale: usize) -> (usize, usize) {
    (text.chars().count() * GLYPH * scale, GLYPH * scale)
}

/// Draws one line with its top-left corner at (x, y), clipped to the surface. Characters
/// outside ASCII show as '?'.
pub fn draw_text(s: &mut impl Surface, x: usize, y: usize, text: &str, scale: usize, fg: [u8; 3]) {
    let (w, h) = s.size();
    let scale = scale.max(1);
    for (i, ch) in text.chars().enumerate() {
        let code = if ch.is_ascii() {
            ch as usize
        } else {
            '?' as usize
        };
        let glyph = BASIC_LEGACY[code];
        for (gy, row) in glyph.iter().enumerate() {
            for gx in 0..GLYPH {
                // font8x8 stores the leftmost pixel in the lowest bit.
                if row & (1 << gx) == 0 {
                    continue;
                }
                let px = x + (i * GLYPH + gx) * scale;
                let py = y + gy * scale;
                for dy in 0..scale {
                    for dx in 0..scale {
                        if px + dx < w && py + dy < h {
                            s.put(px + dx, py + dy, fg);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_glyph_pixels_left_to_right() {
        let mut img = RgbImage::new(16, 8);
        draw_text(&mut img, 0, 0, "|", 1, [255, 255, 255]);
        // font8x8 draws | as a broken bar: columns 3 and 4 of rows 0-2 and 4-6.
        let lit: Vec<u32> = (0..8)
            .filter(|&x| img.get_pixel(x, 1).0[0] == 255)
            .collect();
        assert!(
            !lit.is_empty() && lit.iter().all(|&x| (2..6).contains(&x)),
            "{lit:?}"
        );
        assert!((8..16).all(|x| img.get_pixel(x, 1).0[0] == 0));
    }

    #[test]
    fn text_is_clipped_not_panicking() {
        let mut img = RgbImage::new(10, 5);
        draw_text(&mut img, 6, 3, "héllo", 3, [1, 2, 3]);
    }
}
