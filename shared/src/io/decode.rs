//! Decoding image files to 8-bit RGB as a photo viewer shows them: sizes checked from the
//! header before any pixel buffer exists, EXIF orientation applied, transparency
//! composited on a background, 16-bit, grey, palette and CMYK converted.

use std::io::Cursor;
use std::path::Path;

use image::{ColorType, DynamicImage, ImageDecoder, ImageFormat, ImageReader, RgbImage};

use crate::error::{Error, Result};
use crate::io::jpeg_end::jpeg_is_complete;

/// Largest side we decode. A header claiming more is refused before any pixel
/// buffer is allocated, so a hostile or broken file cannot exhaust memory.
pub const MAX_SIDE: u32 = 16384;
/// Upper bound on the decoder's own allocations.
pub const MAX_ALLOC: u64 = 1 << 30;
/// Largest image file we read: far above any photo, far below what exhausts memory.
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// What transparent pixels are composited on. White, as a page or a viewer's default.
pub const DEFAULT_BACKGROUND: [u8; 3] = [255, 255, 255];

/// How files are turned into RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The colour under transparent areas (the RGB a PNG stores under alpha 0 is
    /// arbitrary, often black or leftover pixels).
    pub background: [u8; 3],
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            background: DEFAULT_BACKGROUND,
        }
    }
}

/// Decodes an image file to 8-bit RGB with the default options.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    load_rgb_with(path, &DecodeOptions::default())
}

/// Decodes an image file to 8-bit RGB; only regular files of a sane size are read.
pub fn load_rgb_with(path: &Path, opts: &DecodeOptions) -> Result<RgbImage> {
    let bytes = crate::io::regular_file::read_regular(path, MAX_FILE_BYTES, "an image")?;
    decode_rgb_with(&bytes, path, opts)
}

/// Decodes image bytes with the default options; `path` is used for messages and as a
/// format hint.
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    decode_rgb_with(bytes, path, &DecodeOptions::default())
}

pub fn decode_rgb_with(bytes: &[u8], path: &Path, opts: &DecodeOptions) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(Error::image(path, "the file is empty"));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::image(path, e))?;
    if reader.format().is_none() {
        if let Ok(f) = ImageFormat::from_path(path) {
            reader.set_format(f);
        }
    }
    let format = reader
        .format()
        .ok_or_else(|| Error::image(path, "unknown image format (expected JPEG, PNG or WebP)"))?;
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(Error::image(
            path,
            "truncated JPEG (its image data ends before the end-of-image marker)",
        ));
    }
    let mut decoder = reader.into_decoder().map_err(|e| Error::image(path, e))?;
    let (w, h) = decoder.dimensions();
    check_size(w, h, decoder.color_type(), bytes.len(), path)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    decoder
        .set_limits(limits)
        .map_err(|e| Error::image(path, e))?;
    // A damaged EXIF block should not cost the picture: it is then shown as stored.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| Error::image(path, e))?;
    img.apply_orientation(orientation);
    Ok(to_rgb(img, opts.background))
}

/// Refuses sizes no photo has and decodes that cannot fit in memory, from the header.
fn check_size(w: u32, h: u32, color: ColorType, file_len: usize, path: &Path) -> Result<()> {
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(Error::image(
            path,
            format!("image is {w}x{h}, larger than the {MAX_SIDE}-pixel limit per side"),
        ));
    }
    if w == 0 || h == 0 {
        return Err(Error::image(
            path,
            format!("image is {w}x{h}, it has no pixels"),
        ));
    }
    let pixels = w as u64 * h as u64;
    let decoded = pixels * color.bytes_per_pixel() as u64;
    if decoded > MAX_ALLOC {
        return Err(Error::image(
            path,
            format!(
                "image is {w}x{h} {color:?}: decoding it needs {}, over the {} limit",
                crate::memory::human(decoded),
                crate::memory::human(MAX_ALLOC)
            ),
        ));
    }
    // The decoded buffer, a rotated copy, the RGB result, and the file itself.
    let need = 2 * decoded + 3 * pixels + file_len as u64;
    crate::memory::check_fits(
        need,
        crate::memory::available_bytes(),
        &format!("decoding {} ({w}x{h})", path.display()),
    )
}

/// 8-bit RGB, transparent pixels composited on `bg` (straight alpha, sRGB values).
fn to_rgb(img: DynamicImage, bg: [u8; 3]) -> RgbImage {
    if !img.color().has_alpha() {
        return img.into_rgb8();
    }
    let rgba = img.into_rgba8();
    let (w, h) = rgba.dimensions();
    RgbImage::from_fn(w, h, |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let a = a as u32;
        let mix = |c: u8, k: u8| ((c as u32 * a + k as u32 * (255 - a) + 127) / 255) as u8;
        image::Rgb([mix(r, bg[0]), mix(g, bg[1]), mix(b, bg[2])])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb, Rgba};

    fn png_bytes(img: &DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    fn decode(bytes: &[u8]) -> RgbImage {
        decode_rgb(bytes, Path::new("t.png")).unwrap()
    }

    #[test]
    fn sixteen_bit_and_grey_become_eight_bit_rgb() {
        let deep: ImageBuffer<Rgb<u16>, Vec<u16>> =
            ImageBuffer::from_pixel(3, 2, Rgb([65535, 32896, 0]));
        let img = decode(&png_bytes(&DynamicImage::ImageRgb16(deep)));
        assert_eq!(img.get_pixel(1, 1).0, [255, 128, 0]);
        let grey: ImageBuffer<Luma<u8>, Vec<u8>> = ImageBuffer::from_pixel(2, 2, Luma([77]));
        let img = decode(&png_bytes(&DynamicImage::ImageLuma8(grey)));
        assert_eq!(img.get_pixel(0, 0).0, [77, 77, 77]);
    }

    #[test]
    fn palette_pngs_are_looked_up() {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, 2, 1);
            enc.set_color(png::ColorType::Indexed);
            enc.set_depth(png::BitDepth::Eight);
            enc.set_palette(vec![10, 20, 30, 200, 100, 50]);
            let mut w = enc.write_header().unwrap();
            w.write_image_data(&[1, 0]).unwrap();
        }
        let img = decode(&out);
        assert_eq!(img.get_pixel(0, 0).0, [200, 100, 50]);
        assert_eq!(img.get_pixel(1, 0).0, [10, 20, 30]);
    }

    #[test]
    fn transparent_areas_are_put_on_the_background_not_their_hidden_rgb() {
        let mut rgba: ImageBuffer<Rgba<u8>, Vec<u8>> = ImageBuffer::new(2, 1);
        rgba.put_pixel(0, 0, Rgba([0, 0, 0, 0])); // hidden black under alpha 0
        rgba.put_pixel(1, 0, Rgba([200, 0, 0, 128]));
        let bytes = png_bytes(&DynamicImage::ImageRgba8(rgba));
        let img = decode(&bytes);
        assert_eq!(img.get_pixel(0, 0).0, DEFAULT_BACKGROUND);
        assert_eq!(img.get_pixel(1, 0).0, [227, 127, 127]);
        let on_grey = decode_rgb_with(
            &bytes,
            Path::new("t.png"),
            &DecodeOptions {
                background: [100, 100, 100],
            },
        )
        .unwrap();
        assert_eq!(on_grey.get_pixel(0, 0).0, [100, 100, 100]);
    }

    #[test]
    fn bad_bytes_and_absurd_headers_are_errors_naming_the_file() {
        for bytes in [&b""[..], b"hello", &[0xff, 0xd8, 0xff, 0xe0, 0, 16][..]] {
            let e = decode_rgb(bytes, Path::new("photo.jpg"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("photo.jpg"), "{e}");
        }
        // A PNG header claiming 100000 x 1: refused from the header.
        let mut png = png_bytes(&DynamicImage::ImageRgb8(RgbImage::new(1, 1)));
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        let e = decode_rgb(&png, Path::new("big.png"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("big.png"), "{e}");
    }
}
