//! The style image (the painting): read once, scaled to `--style-size`, and hashed, so a
//! model records which file it learned and `host-train eval` can tell a different one.

use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use sha2::Digest;
use stylecast::io::image::{decode_rgb, image_to_tensor, resize_longer_side};

/// The smallest shorter side of the style image, as scaled: VGG-16 halves it three
/// times before relu4_3 (under 8 px nothing is left to pool), and under 16 px a painting
/// has no strokes to learn.
pub const MIN_STYLE_SIDE: u32 = 16;

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
    check_style_side(img.dimensions(), style_size, path)?;
    Ok((image_to_tensor(&img, device, DType::F32)?, hash))
}

/// Refuses a style image (as scaled) whose shorter side is under [`MIN_STYLE_SIDE`].
fn check_style_side((w, h): (u32, u32), style_size: Option<u32>, path: &Path) -> Result<()> {
    if w.min(h) < MIN_STYLE_SIDE {
        let scaled = style_size
            .map(|s| format!(" after --style-size {s}"))
            .unwrap_or_default();
        bail!(
            "{}: the style image is {w}x{h}{scaled}; its shorter side must be at least \
             {MIN_STYLE_SIDE} px (VGG-16 halves it three times): give a larger --style-size \
             or a less elongated image",
            path.display()
        );
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_style_too_small_for_vgg_is_refused_with_its_size() {
        let p = Path::new("wave.jpg");
        let e = check_style_side((256, 4), Some(256), p)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("wave.jpg") && e.contains("256x4 after --style-size 256"),
            "{e}"
        );
        assert!(check_style_side((15, 40), None, p).is_err());
        assert!(check_style_side((16, 40), None, p).is_ok());
    }
}
