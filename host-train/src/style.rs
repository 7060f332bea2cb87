//! The style image (the painting): read once, scaled to `--style-size`, and hashed, so a
//! model records which file it learned and `host-train eval` can tell a different one.

use std::path::Path;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use sha2::Digest;
use stylecast::io::image::{decode_rgb, image_to_tensor, resize_longer_side};

/// Loads the style image, scaled so its longer side is `style_size` if given, and the
/// SHA-256 of its file (hex).
pub fn load_style(
    path: &Path,
    style_size: Option<u32>,
    device: &Device,
) -> Result<(Tensor, String)> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("{}: cannot read style image", path.display()))?;
    let hash = hex(&sha2::Sha256::digest(&bytes));
    let mut img = decode_rgb(&bytes, path)?;
    if let Some(s) = style_size {
        img = resize_longer_side(&img, s);
    }
    Ok((image_to_tensor(&img, device, DType::F32)?, hash))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
