//! Reading images safely and converting between images and tensors.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use image::{ImageReader, RgbImage};

use crate::error::{Error, Result};

/// Largest side we decode. A header claiming more is refused before any pixel
/// buffer is allocated, so a hostile or broken file cannot exhaust memory.
pub const MAX_SIDE: u32 = 16384;
/// Upper bound on the decoder's own allocations.
pub const MAX_ALLOC: u64 = 1 << 30;

/// File extensions we treat as images when walking folders.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp"];

pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// The image files in `dir` and below, sorted. Symlinks are followed (a kiosk's slideshow
/// folder, or a dataset, is often links); unreadable entries are passed over.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file() && is_image_path(e.path()))
        .map(|e| e.into_path())
        .collect();
    if found.is_empty() {
        return Err(Error::NoImages { dir: dir.into() });
    }
    found.sort();
    Ok(found)
}

/// Decodes an image file to 8-bit RGB, with a size check before decoding.
pub fn load_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_rgb(&bytes, path)
}

/// Decodes image bytes; `path` is used for messages and as a format hint.
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(Error::image(path, "the file is empty"));
    }
    let reader = || -> Result<ImageReader<Cursor<&[u8]>>> {
        let mut r = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| Error::image(path, e))?;
        if r.format().is_none() {
            if let Ok(f) = image::ImageFormat::from_path(path) {
                r.set_format(f);
            }
        }
        if r.format().is_none() {
            return Err(Error::image(
                path,
                "unknown image format (expected JPEG, PNG or WebP)",
            ));
        }
        Ok(r)
    };
    let probe = reader()?;
    // JPEG decoders fill a truncated file's missing rows with grey and report success;
    // a complete JPEG ends with an end-of-image marker (FF D9), which entropy-coded data
    // cannot contain, so its absence means the file was cut short.
    if probe.format() == Some(image::ImageFormat::Jpeg)
        && !bytes.windows(2).any(|w| w == [0xFF, 0xD9])
    {
        return Err(Error::image(
            path,
            "truncated JPEG (no end-of-image marker)",
        ));
    }
    let (w, h) = probe.into_dimensions().map_err(|e| Error::image(path, e))?;
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
    let mut r = reader()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    r.limits(limits);
    let img = r.decode().map_err(|e| Error::image(path, e))?;
    Ok(img.to_rgb8())
}

/// Writes a PNG atomically (temporary file, then rename), so a reader never sees half a file.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    let mut buf = Vec::new();
    img.write_to(&mut Cursor::new(&mut buf), image::ImageFormat::Png)
        .map_err(|e| Error::image(path, e))?;
    crate::io::atomic::atomic_write(path, &buf)
}

/// Resizes so the longer side is `side` pixels, keeping the aspect ratio (bilinear).
pub fn resize_longer_side(img: &RgbImage, side: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let f = side as f64 / w.max(h) as f64;
    let (nw, nh) = (
        ((w as f64 * f).round() as u32).max(1),
        ((h as f64 * f).round() as u32).max(1),
    );
    image::imageops::resize(img, nw, nh, image::imageops::FilterType::Triangle)
}

/// RGB image to a (1, 3, H, W) tensor with values in [0, 255].
pub fn image_to_tensor(img: &RgbImage, device: &Device, dtype: DType) -> Result<Tensor> {
    let (w, h) = img.dimensions();
    let t = Tensor::from_vec(
        img.as_raw().clone(),
        (h as usize, w as usize, 3),
        &Device::Cpu,
    )?
    .permute((2, 0, 1))?
    .to_dtype(DType::F32)?
    .unsqueeze(0)?;
    Ok(t.to_device(device)?.to_dtype(dtype)?)
}

/// A (1, 3, H, W) or (3, H, W) tensor in [0, 255] to an RGB image (rounded, clamped).
pub fn tensor_to_image(t: &Tensor) -> Result<RgbImage> {
    let t = if t.rank() == 4 {
        t.squeeze(0)?
    } else {
        t.clone()
    };
    let (c, h, w) = t.dims3()?;
    if c != 3 {
        return Err(Error::Invalid(format!("expected 3 channels, got {c}")));
    }
    let data = t
        .to_device(&Device::Cpu)?
        .to_dtype(DType::F32)?
        .clamp(0f32, 255f32)?
        .round()?
        .to_dtype(DType::U8)?
        .permute((1, 2, 0))?
        .flatten_all()?
        .to_vec1::<u8>()?;
    RgbImage::from_raw(w as u32, h as u32, data)
        .ok_or_else(|| Error::Invalid("tensor size does not match image size".into()))
}

/// Peak signal-to-noise ratio in dB between two same-size 8-bit images.
pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(
        a.dimensions(),
        b.dimensions(),
        "psnr needs same-size images"
    );
    let mse = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.as_raw().len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}
