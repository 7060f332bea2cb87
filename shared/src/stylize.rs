//! Stylizing images with a trained model: the API the edge runtime and tools use.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use image::{imageops::FilterType, RgbImage};

use crate::error::{Error, Result};
use crate::io::image::{image_to_tensor, resize_longer_side, tensor_to_image};
use crate::io::model_file::{ModelFile, ModelMeta};
use crate::net::style_mix::StyleMix;
use crate::net::transformer::TransformerNet;

/// The dtype the network computes in. Weights are cast to it whatever the file holds,
/// so an f16 file can run in f32 (CPUs) or f16 (GPUs); instance-norm statistics stay f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    F32,
    F16,
}

impl Precision {
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F16 => DType::F16,
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(Precision::F32),
            "f16" | "fp16" | "float16" | "half" => Ok(Precision::F16),
            _ => Err(Error::Invalid(format!(
                "unknown precision {s:?}: use f32 or f16"
            ))),
        }
    }
}

/// Per-call options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StylizeOptions {
    /// Downscale inputs whose longer side exceeds this before stylizing, then scale
    /// the result back to the input's size. Bounds time and memory on big photos.
    pub max_side: Option<u32>,
    /// 1 is the full style, 0 the untouched input; in between, a linear blend.
    pub strength: f32,
    /// Keep the input's colours: luminance from the stylized image, chrominance (YCbCr)
    /// from the input.
    pub preserve_colors: bool,
    /// Pixels mirrored onto every side before the network and cropped off after (at the
    /// network's resolution); why: [`DEFAULT_BORDER_PAD`].
    pub border_pad: u32,
    /// Images of more than `side x side` pixels (after `max_side`) go through the network
    /// in overlapping tiles of at most this side ([`crate::tiling`]), which bounds memory
    /// by the tile instead of the photo. `None`: always the whole image at once.
    pub tile_side: Option<u32>,
}

/// `StylizeOptions::tile_side`'s default: a tile's working memory stays within what small
/// boards have, and its instance-norm statistics are those of a large part of the photo.
pub const DEFAULT_TILE_SIDE: u32 = 1024;
/// How far neighbouring tiles overlap: more than the network's reach of about 55 pixels
/// (a 9x9 conv, ten 3x3 at quarter resolution, two up and two down), so the blend uses
/// only pixels that saw their surroundings.
pub const TILE_OVERLAP: u32 = 128;
/// Peak bytes per pixel of the network's input while it runs (f32, CPU, border included),
/// rounded up from measurements (BENCHMARKS.md, "Big photos"): what a refusal is based on.
pub const NETWORK_BYTES_PER_PIXEL: u64 = 800;

/// `StylizeOptions::border_pad`'s default. Trained styles paint a band of their own along
/// an image's edges (borders reward the style loss; starry_night's is about 24 px of yellow
/// down the left side, at any size). Mirroring the input outwards by this many pixels
/// before the network and cropping the result back puts that band outside the picture.
/// 32 clears every shipped style's band (16 left half of starry_night's); the cost is the
/// extra pixels' time (BENCHMARKS.md). 0 is the fastest and shows the band. This is the
/// one place the edge band is explained; the rest of the code and docs point here.
pub const DEFAULT_BORDER_PAD: u32 = 32;

impl Default for StylizeOptions {
    fn default() -> Self {
        Self {
            max_side: None,
            strength: 1.0,
            preserve_colors: false,
            border_pad: DEFAULT_BORDER_PAD,
            tile_side: Some(DEFAULT_TILE_SIDE),
        }
    }
}

/// A loaded model, ready to stylize on one device. A multi-style model paints one of its
/// styles or a blend ([`Stylizer::set_style`]); the first style until told otherwise.
#[derive(Clone)]
pub struct Stylizer {
    /// The network as loaded: for several styles, a bank of instance-norm parameters.
    bank: TransformerNet,
    /// `bank` with the current mix applied (the same network for a single style).
    net: TransformerNet,
    mix: StyleMix,
    names: Vec<String>,
    meta: ModelMeta,
    device: Device,
    precision: Precision,
}

impl Stylizer {
    /// Loads a model file for `device`, computing in `precision`.
    pub fn load(path: &Path, device: &Device, precision: Precision) -> Result<Self> {
        let model = ModelFile::load(path, device)?;
        Self::from_model(&model, device, precision)
    }

    pub fn from_model(model: &ModelFile, device: &Device, precision: Precision) -> Result<Self> {
        let dtype = precision.dtype();
        let tensors = model
            .tensors
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.to_device(device)?.to_dtype(dtype)?)))
            .collect::<Result<_>>()?;
        let vb = VarBuilder::from_tensors(tensors, dtype, device);
        let bank = TransformerNet::new(vb, &model.meta.config)?;
        let mut s = Self {
            net: bank.clone(),
            bank,
            mix: StyleMix::single(0, model.meta.config.styles)?,
            names: model.meta.names(),
            meta: model.meta.clone(),
            device: device.clone(),
            precision,
        };
        if s.bank.styles() > 1 {
            s.set_style(s.mix.clone())?;
        }
        Ok(s)
    }

    /// The names of the model's styles, in its order (one for a single-style model).
    pub fn style_names(&self) -> &[String] {
        &self.names
    }

    /// The mix it paints with now.
    pub fn style_mix(&self) -> &StyleMix {
        &self.mix
    }

    /// The current style's name, or the blend's (`a:0.60,b:0.40`).
    pub fn style_label(&self) -> String {
        self.mix.label(&self.names)
    }

    /// Paints with `mix` from now on. Only the instance norms' few thousand scales and
    /// shifts are recomputed, so a live morph can call this every frame.
    pub fn set_style(&mut self, mix: StyleMix) -> Result<()> {
        if mix.styles() != self.names.len() {
            return Err(Error::Invalid(format!(
                "a mix of {} styles for {}, which has {}",
                mix.styles(),
                self.meta.style,
                self.names.len()
            )));
        }
        if self.bank.styles() > 1 {
            self.net = self.bank.styled(&mix.to_tensor(&self.device)?)?;
        }
        self.mix = mix;
        Ok(())
    }

    /// Paints with the style or blend `spec` names: `NAME`, `INDEX` or `NAME:W,NAME:W`
    /// (see [`StyleMix::parse`]).
    pub fn select_style(&mut self, spec: &str) -> Result<()> {
        let mix = StyleMix::parse(spec, &self.names)?;
        self.set_style(mix)
    }

    /// A copy painting `mix` (the weights are shared, not copied).
    pub fn with_style(&self, mix: StyleMix) -> Result<Self> {
        let mut s = self.clone();
        s.set_style(mix)?;
        Ok(s)
    }

    pub fn meta(&self) -> &ModelMeta {
        &self.meta
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    pub fn precision(&self) -> Precision {
        self.precision
    }
    pub fn net(&self) -> &TransformerNet {
        &self.net
    }

    /// Runs the network on an NCHW batch in [0, 255]; any size, output clamped; no border
    /// padding (see `forward_with_border`).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with_border(x, 0)
    }

    /// `forward` with `border` pixels mirrored onto every side, and cropped off after.
    pub fn forward_with_border(&self, x: &Tensor, border: u32) -> Result<Tensor> {
        let x = x
            .to_device(&self.device)?
            .to_dtype(self.precision.dtype())?;
        Ok(self.net.forward_with_border(&x, border as usize)?)
    }

    /// Stylizes one image with the given options; the output has the input's size.
    pub fn stylize(&self, img: &RgbImage, opts: &StylizeOptions) -> Result<RgbImage> {
        if !(0.0..=1.0).contains(&opts.strength) {
            return Err(Error::Invalid(format!(
                "strength must be within 0..1, got {}",
                opts.strength
            )));
        }
        let (w, h) = img.dimensions();
        let scaled;
        let input = match opts.max_side {
            Some(0) => return Err(Error::Invalid("max_side must be positive".into())),
            Some(m) if w.max(h) > m => {
                scaled = resize_longer_side(img, m);
                &scaled
            }
            _ => img,
        };
        let (iw, ih) = input.dimensions();
        let tiled = match opts.tile_side {
            Some(0) => return Err(Error::Invalid("tile_side must be positive".into())),
            Some(side) => (iw as u64 * ih as u64 > side as u64 * side as u64).then_some(side),
            None => None,
        };
        let (nw, nh) = tiled.map_or((iw, ih), |side| (iw.min(side), ih.min(side)));
        let pad = 2 * opts.border_pad as u64;
        let need = (nw as u64 + pad) * (nh as u64 + pad) * NETWORK_BYTES_PER_PIXEL
            // the input, the result, and a copy for resizing or colour transfer
            + 3 * 3 * w as u64 * h as u64;
        if self.device.is_cpu() {
            crate::memory::check_fits(
                need,
                crate::memory::available_bytes(),
                &format!("stylizing a {w}x{h} image"),
            )?;
        }
        let mut out = match tiled {
            Some(side) => crate::tiling::map_tiles(input, side, TILE_OVERLAP, |t| {
                self.stylize_whole(t, opts.border_pad)
            })?,
            None => self.stylize_whole(input, opts.border_pad)?,
        };
        if out.dimensions() != (w, h) {
            out = image::imageops::resize(&out, w, h, FilterType::CatmullRom);
        }
        if opts.preserve_colors {
            out = preserve_colors(img, &out);
        }
        if opts.strength < 1.0 {
            out = blend(img, &out, opts.strength);
        }
        Ok(out)
    }

    /// The network over all of `img` at once.
    fn stylize_whole(&self, img: &RgbImage, border_pad: u32) -> Result<RgbImage> {
        let x = image_to_tensor(img, &self.device, self.precision.dtype())?;
        tensor_to_image(&self.forward_with_border(&x, border_pad)?)
    }
}

fn rgb_to_ycbcr(p: [u8; 3]) -> [f32; 3] {
    let [r, g, b] = p.map(|v| v as f32);
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b;
    let cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b;
    [y, cb, cr]
}

fn ycbcr_to_rgb([y, cb, cr]: [f32; 3]) -> [u8; 3] {
    let r = y + 1.402 * (cr - 128.0);
    let g = y - 0.344136 * (cb - 128.0) - 0.714136 * (cr - 128.0);
    let b = y + 1.772 * (cb - 128.0);
    [r, g, b].map(|v| v.round().clamp(0.0, 255.0) as u8)
}

/// Luminance of `stylized`, chrominance of `original` (full-range JPEG YCbCr).
pub fn preserve_colors(original: &RgbImage, stylized: &RgbImage) -> RgbImage {
    let mut out = stylized.clone();
    for (o, s) in out.pixels_mut().zip(original.pixels()) {
        let [y, _, _] = rgb_to_ycbcr(o.0);
        let [_, cb, cr] = rgb_to_ycbcr(s.0);
        o.0 = ycbcr_to_rgb([y, cb, cr]);
    }
    out
}

/// `strength * stylized + (1 - strength) * original`, per channel.
pub fn blend(original: &RgbImage, stylized: &RgbImage, strength: f32) -> RgbImage {
    let mut out = stylized.clone();
    for (o, s) in out.as_mut().iter_mut().zip(original.as_raw()) {
        *o = (strength * *o as f32 + (1.0 - strength) * *s as f32)
            .round()
            .clamp(0.0, 255.0) as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::model_file::tests::random_model;

    fn photo() -> RgbImage {
        RgbImage::from_fn(20, 16, |x, y| {
            image::Rgb([(x * 12) as u8, (y * 15) as u8, ((x * y) % 256) as u8])
        })
    }

    /// Blend weights (1, 0) paint exactly the first style: bit for bit what the style alone,
    /// resolved into a single-style model, paints. In f32 and f16 files.
    #[test]
    fn a_mix_of_one_style_is_exactly_that_style() {
        let multi = random_model(3, vec!["a".into(), "b".into(), "c".into()]);
        let opts = StylizeOptions::default();
        for dtype in [DType::F32, DType::F16] {
            let multi = multi.to_dtype(dtype).unwrap();
            let mut s = Stylizer::from_model(&multi, &Device::Cpu, Precision::F32).unwrap();
            assert_eq!(s.style_names(), ["a", "b", "c"]);
            assert_eq!(s.style_label(), "a", "the first style by default");
            for (i, name) in ["a", "b", "c"].iter().enumerate() {
                let one = multi
                    .resolve_style(&StyleMix::single(i, 3).unwrap())
                    .unwrap();
                assert_eq!(one.meta.config.styles, 1);
                assert_eq!(one.meta.style, *name);
                assert_eq!(one.tensors["in1.weight"].dims(), &[4]);
                let alone = Stylizer::from_model(&one, &Device::Cpu, Precision::F32).unwrap();
                s.select_style(&format!("{name}:1,{}:0", ["b", "c", "a"][i]))
                    .unwrap();
                assert_eq!(s.style_label(), *name);
                let (a, b) = (
                    s.stylize(&photo(), &opts).unwrap(),
                    alone.stylize(&photo(), &opts).unwrap(),
                );
                assert!(
                    a == b,
                    "{dtype:?} style {name}: the mix differs from the style alone"
                );
            }
        }
    }

    /// Halfway between two styles is a valid picture of the photo's size that differs
    /// from both ends; the styles themselves differ from each other.
    #[test]
    fn a_morph_midpoint_differs_from_both_ends() {
        let multi = random_model(2, vec!["a".into(), "b".into()]);
        let opts = StylizeOptions::default();
        let s = Stylizer::from_model(&multi, &Device::Cpu, Precision::F32).unwrap();
        let paint = |mix: StyleMix| s.with_style(mix).unwrap().stylize(&photo(), &opts).unwrap();
        let a = paint(StyleMix::single(0, 2).unwrap());
        let b = paint(StyleMix::single(1, 2).unwrap());
        let mid = paint(
            StyleMix::single(0, 2)
                .unwrap()
                .lerp(&StyleMix::single(1, 2).unwrap(), 0.5)
                .unwrap(),
        );
        assert_eq!(mid.dimensions(), photo().dimensions());
        let mean_diff = |x: &RgbImage, y: &RgbImage| {
            x.as_raw()
                .iter()
                .zip(y.as_raw())
                .map(|(p, q)| (*p as f64 - *q as f64).abs())
                .sum::<f64>()
                / x.as_raw().len() as f64
        };
        assert!(mean_diff(&a, &b) > 1.0, "the two styles paint alike");
        assert!(
            mean_diff(&mid, &a) > 0.2 && mean_diff(&mid, &b) > 0.2,
            "{} {}",
            mean_diff(&mid, &a),
            mean_diff(&mid, &b)
        );
        let e = s.clone().select_style("zebra").unwrap_err().to_string();
        assert!(
            e.contains("unknown style \"zebra\"") && e.contains("a, b"),
            "{e}"
        );
        let e = s.clone().select_style("a:0,b:0").unwrap_err().to_string();
        assert!(e.contains("all zero"), "{e}");
    }

    #[test]
    fn ycbcr_round_trips() {
        for p in [[0u8, 0, 0], [255, 255, 255], [200, 30, 90], [12, 240, 128]] {
            let q = ycbcr_to_rgb(rgb_to_ycbcr(p));
            for c in 0..3 {
                assert!((p[c] as i32 - q[c] as i32).abs() <= 1, "{p:?} -> {q:?}");
            }
        }
    }

    #[test]
    fn blend_endpoints() {
        let a = RgbImage::from_pixel(2, 2, image::Rgb([10, 20, 30]));
        let b = RgbImage::from_pixel(2, 2, image::Rgb([200, 100, 0]));
        assert_eq!(blend(&a, &b, 1.0), b);
        assert_eq!(blend(&a, &b, 0.0), a);
        assert_eq!(blend(&a, &b, 0.5).get_pixel(0, 0).0, [105, 60, 15]);
    }
}
