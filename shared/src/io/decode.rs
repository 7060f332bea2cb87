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
