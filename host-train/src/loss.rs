//! Perceptual losses exactly as ../shared/conformance/README.md defines them:
//! content = mse of features, style = sum over layers of mse of Gram matrices
//! (style Gram broadcast over the batch), total variation = mean squared differences.

use candle_core::{DType, Result, Tensor, D};
use serde::{Deserialize, Serialize};

use crate::vgg::{Vgg16, VggLayer};

/// Loss weights and layers. Defaults: content 1e5 at relu3_3 (as in Johnson's released
/// code), style 1e10 at relu1_2..relu4_3 with equal weights, TV 1e-2 (on 0-255 images).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LossConfig {
    pub content_weight: f64,
    pub style_weight: f64,
    pub tv_weight: f64,
    pub content_layer: VggLayer,
    /// Style layers and their relative weights.
    pub style_layers: Vec<(VggLayer, f64)>,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            content_weight: 1e5,
            style_weight: 1e10,
            tv_weight: 1e-2,
            content_layer: VggLayer::Relu3_3,
            style_layers: VggLayer::ALL.iter().map(|&l| (l, 1.0)).collect(),
        }
    }
}

impl LossConfig {
    /// The deepest layer any term needs: VGG stops there.
    pub fn last_layer(&self) -> VggLayer {
        self.style_layers
            .iter()
            .map(|(l, _)| *l)
            .chain([self.content_layer])
            .max()
            .unwrap_or(VggLayer::Relu4_3)
    }
}

/// Gram matrices `F Fᵀ / (C·H·W)` per image: (N, C, H, W) -> (N, C, C).
pub fn gram(f: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = f.dims4()?;
    let f = f.reshape((n, c, h * w))?;
    f.matmul(&f.t()?)? / (c * h * w) as f64
}

/// A scalar loss tensor's value.
pub fn scalar(t: &Tensor) -> Result<f64> {
    t.to_dtype(DType::F64)?.to_scalar::<f64>()
}

pub fn mse(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.sub(b)?.sqr()?.mean_all()
}

/// Mean squared horizontal plus vertical neighbour differences.
pub fn total_variation(y: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = y.dims4()?;
    let dx = y
        .narrow(D::Minus1, 1, w - 1)?
        .sub(&y.narrow(D::Minus1, 0, w - 1)?)?;
    let dy = y.narrow(2, 1, h - 1)?.sub(&y.narrow(2, 0, h - 1)?)?;
    dx.sqr()?.mean_all()? + dy.sqr()?.mean_all()?
}

/// The loss terms of one batch, unweighted, and the weighted total.
pub struct Losses {
    pub content: Tensor,
    pub style: Tensor,
    pub tv: Tensor,
    pub total: Tensor,
}

/// The style image's Gram matrices, computed once.
pub struct StyleTarget {
    grams: Vec<(VggLayer, f64, Tensor)>,
}

impl StyleTarget {
    pub fn new(vgg: &Vgg16, style: &Tensor, cfg: &LossConfig) -> Result<Self> {
        let feats = vgg.features(style, cfg.last_layer())?;
        let grams = cfg
            .style_layers
            .iter()
            .map(|&(l, w)| Ok((l, w, gram(&feats[l.index()])?.detach())))
            .collect::<Result<_>>()?;
        Ok(Self { grams })
    }
}

/// Computes all terms for the network's output `y` against content batch `x`.
pub fn perceptual_losses(
    vgg: &Vgg16,
    cfg: &LossConfig,
    style: &StyleTarget,
    x: &Tensor,
    y: &Tensor,
) -> Result<Losses> {
    let last = cfg.last_layer();
    let fy = vgg.features(y, last)?;
    // The content image's features are constants: no graph through them.
    let fx = vgg.features(&x.detach(), cfg.content_layer)?;
    let ci = cfg.content_layer.index();
    let content = mse(&fy[ci], &fx[ci].detach())?;
    let n = y.dim(0)?;
    let mut style_loss: Option<Tensor> = None;
    for (layer, w, target) in &style.grams {
        let g = gram(&fy[layer.index()])?;
        let (_, c, _) = target.dims3()?;
        let term = (mse(&g, &target.broadcast_as((n, c, c))?)? * *w)?;
        style_loss = Some(match style_loss {
            None => term,
            Some(s) => (s + term)?,
        });
    }
    let style_loss = match style_loss {
        Some(s) => s,
        None => Tensor::zeros((), y.dtype(), y.device())?,
    };
    let tv = total_variation(y)?;
    let total = ((&content * cfg.content_weight)? + (&style_loss * cfg.style_weight)?)?;
    let total = (total + (&tv * cfg.tv_weight)?)?;
    Ok(Losses {
        content,
        style: style_loss,
        tv,
        total,
    })
}

/// A batch's content and style losses per image, unweighted, each `[N]`.
pub struct PerImage {
    pub content: Tensor,
    pub style: Tensor,
}

/// The mean of `(a - b)²` over every dimension but the first: `[N]`.
fn mse_per_image(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    a.sub(b)?.sqr()?.flatten_from(1)?.mean(1)
}

/// As [`perceptual_losses`], with image `i` of the batch against its own style target
/// `targets[i]` (a multi-style run: one style drawn per image), all made with `cfg`; also
/// the per-image terms, for logging each style's losses. The batch terms are the means of
/// the per-image ones, which is what [`perceptual_losses`] computes for one target.
pub fn perceptual_losses_per_image(
    vgg: &Vgg16,
    cfg: &LossConfig,
    targets: &[&StyleTarget],
    x: &Tensor,
    y: &Tensor,
) -> Result<(Losses, PerImage)> {
    let n = y.dim(0)?;
    if targets.len() != n {
        candle_core::bail!("{} style targets for a batch of {n}", targets.len());
    }
    let fy = vgg.features(y, cfg.last_layer())?;
    let fx = vgg.features(&x.detach(), cfg.content_layer)?;
    let ci = cfg.content_layer.index();
    let content_i = mse_per_image(&fy[ci], &fx[ci].detach())?;
    let mut style_i = Tensor::zeros(n, y.dtype(), y.device())?;
    for (j, &(layer, w)) in cfg.style_layers.iter().enumerate() {
        let g = gram(&fy[layer.index()])?;
        let rows: Vec<&Tensor> = targets
            .iter()
            .map(|t| {
                t.grams
                    .get(j)
                    .filter(|(l, _, _)| *l == layer)
                    .map(|(_, _, g)| g)
                    .ok_or_else(|| {
                        candle_core::Error::Msg(format!(
                            "style target lacks layer {} (made with other loss settings)",
                            layer.name()
                        ))
                    })
            })
            .collect::<Result<_>>()?;
        let target = Tensor::cat(&rows, 0)?;
        style_i = (style_i + (mse_per_image(&g, &target)? * w)?)?;
    }
    let content = content_i.mean_all()?;
    let style = style_i.mean_all()?;
    let tv = total_variation(y)?;
    let total = ((&content * cfg.content_weight)? + (&style * cfg.style_weight)?)?;
    let total = (total + (&tv * cfg.tv_weight)?)?;
    Ok((
        Losses {
            content,
            style,
            tv,
            total,
        },
        PerImage {
            content: content_i,
            style: style_i,
        },
    ))
}
