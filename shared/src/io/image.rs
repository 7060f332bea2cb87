//! Images: finding them in folders, saving them, converting between images and tensors.
//! Decoding is `io::decode`.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use image::RgbImage;

use crate::error::{Error, Result};

// Decoding lives in `io::decode`; these names stay here, where callers know them.
pub use crate::io::decode::{
    decode_rgb, decode_rgb_with, load_rgb, load_rgb_with, DecodeOptions, MAX_ALLOC, MAX_SIDE,
};

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
    let found = walk_images(dir, &[]).images;
    if found.is_empty() {
        return Err(Error::NoImages { dir: dir.into() });
    }
    Ok(found)
}

/// What a walk over a folder found.
#[derive(Debug, Default)]
pub struct ImageWalk {
    /// The image files, sorted.
    pub images: Vec<PathBuf>,
    /// Entries that could not be read (a folder without permission, a broken link), with why.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// The image files in `dir` and below, not descending into the folders of `skip` (compared
/// after resolving links: e.g. an output folder inside the input folder).
pub fn walk_images(dir: &Path, skip: &[PathBuf]) -> ImageWalk {
    walk_files(dir, skip, is_image_path)
}

/// The files in `dir` and below that `keep` takes (e.g. video files), sorted, skipping as
/// [`walk_images`] does; they are in `images`.
pub fn walk_files(dir: &Path, skip: &[PathBuf], keep: impl Fn(&Path) -> bool) -> ImageWalk {
    let skip: Vec<PathBuf> = skip.iter().filter_map(|p| p.canonicalize().ok()).collect();
    let mut walk = ImageWalk::default();
    let entries = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .into_iter()
        .filter_entry(|e| {
            !(e.file_type().is_dir()
                && !skip.is_empty()
                && e.path().canonicalize().is_ok_and(|c| skip.contains(&c)))
        });
    for e in entries {
        match e {
            Ok(e) if e.file_type().is_file() && keep(e.path()) => walk.images.push(e.into_path()),
            Ok(_) => {}
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                let why = e
                    .io_error()
                    .map(|io| Error::io(&path, io.kind().into()).to_string())
                    .unwrap_or_else(|| e.to_string());
                walk.unreadable.push((path, why));
            }
        }
    }
    walk.images.sort();
    walk
}

/// The file formats results can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Lossless, the default.
    #[default]
    Png,
    /// Quality 90.
    Jpeg,
    /// Lossless WebP (the encoder we use has no lossy mode).
    WebP,
}

impl OutputFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::WebP => "webp",
        }
    }
}

impl std::str::FromStr for OutputFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "png" => Ok(Self::Png),
            "jpg" | "jpeg" => Ok(Self::Jpeg),
            "webp" => Ok(Self::WebP),
            _ => Err(Error::Invalid(format!(
                "unknown output format {s:?}: use png, jpg or webp"
            ))),
        }
    }
}

/// Writes an image in `format` atomically (temporary file, then rename).
pub fn save_image(img: &RgbImage, path: &Path, format: OutputFormat) -> Result<()> {
    let mut buf = Vec::new();
    let cursor = &mut Cursor::new(&mut buf);
    let written = match format {
        OutputFormat::Png => img.write_to(cursor, image::ImageFormat::Png),
        OutputFormat::WebP => img.write_to(cursor, image::ImageFormat::WebP),
        OutputFormat::Jpeg => {
            image::codecs::jpeg::JpegEncoder::new_with_quality(cursor, 90).encode_image(img)
        }
    };
    written.map_err(|e| Error::image(path, e))?;
    crate::io::atomic::atomic_write(path, &buf)
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
