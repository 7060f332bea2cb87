//! The image transformation network of Johnson et al. 2016, laid out exactly as
//! pytorch/examples `fast_neural_style` (`TransformerNet`), parameter names included.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::blocks::{ConvBlock, ConvLayer, ResidualBlock};
use super::config::NetConfig;
use crate::ops::padding::reflection_pad2d;

/// The whole network. Input and output are NCHW RGB in [0, 255].
#[derive(Debug, Clone)]
pub struct TransformerNet {
    /// conv1/in1 (9x9), conv2/in2 and conv3/in3 (3x3, stride 2).
    downsample: Vec<ConvBlock>,
    /// res1..resN at the narrowest resolution.
    residual: Vec<ResidualBlock>,
    /// deconv1/in4 and deconv2/in5 (nearest x2 upsample, 3x3).
    upsample: Vec<ConvBlock>,
    /// deconv3 (9x9), no norm.
    output: ConvLayer,
    config: NetConfig,
}

impl TransformerNet {
    /// The network for inference: instance-norm statistics in f32.
    pub fn new(vb: VarBuilder, config: &NetConfig) -> Result<Self> {
        Self::with_stat_dtype(vb, config, DType::F32)
    }

    /// `stat`: dtype of the instance-norm statistics; training uses f64 (see `InstanceNorm`).
    pub fn with_stat_dtype(vb: VarBuilder, config: &NetConfig, stat: DType) -> Result<Self> {
        let [c1, c2, c3] = config.channels;
        let styles = config.styles;
        let block =
            |conv: Result<ConvLayer>, norm: &str| ConvBlock::new(conv?, styles, stat, vb.pp(norm));
        Ok(Self {
            downsample: vec![
                block(ConvLayer::new(3, c1, 9, 1, vb.pp("conv1")), "in1")?,
                block(ConvLayer::new(c1, c2, 3, 2, vb.pp("conv2")), "in2")?,
                block(ConvLayer::new(c2, c3, 3, 2, vb.pp("conv3")), "in3")?,
            ],
            residual: (1..=config.residual_blocks)
                .map(|i| ResidualBlock::new(c3, styles, stat, vb.pp(format!("res{i}"))))
                .collect::<Result<_>>()?,
            upsample: vec![
                block(ConvLayer::upsampling(c3, c2, 3, vb.pp("deconv1")), "in4")?,
                block(ConvLayer::upsampling(c2, c1, 3, vb.pp("deconv2")), "in5")?,
            ],
            output: ConvLayer::new(c1, 3, 9, 1, vb.pp("deconv3"))?,
            config: *config,
        })
    }

    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// How many styles the network holds.
    pub fn styles(&self) -> usize {
        self.config.styles
    }

    /// The network painting the mix `mix` of its styles: `[S]` weights for the whole batch
    /// (a style or a blend, see [`crate::net::style_mix::StyleMix`]), or `[N, S]`, one row
    /// per image (training). Only the instance norms' scales and shifts are computed; the
    /// convolutions, and what they cache, are shared with `self`.
    pub fn styled(&self, mix: &Tensor) -> Result<Self> {
        let blocks = |v: &[ConvBlock]| v.iter().map(|b| b.styled(mix)).collect::<Result<Vec<_>>>();
        Ok(Self {
            downsample: blocks(&self.downsample)?,
            residual: self
                .residual
                .iter()
                .map(|b| b.styled(mix))
                .collect::<Result<_>>()?,
            upsample: blocks(&self.upsample)?,
            output: self.output.clone(),
            config: self.config,
        })
    }

    /// The raw network on an input whose sides are multiples of 4, unclamped: this is
    /// what training differentiates and what the PyTorch reference computes.
    pub fn forward_raw(&self, x: &Tensor) -> Result<Tensor> {
        let mut y = x.clone();
        for block in &self.downsample {
            y = block.forward(&y)?;
        }
        for block in &self.residual {
            y = block.forward(&y)?;
        }
        for block in &self.upsample {
            y = block.forward(&y)?;
        }
        self.output.forward(&y)
    }
}

/// Smallest side the network takes: the 1/4-resolution feature map needs two pixels
/// so that its 1-pixel reflection pad exists.
pub const MIN_SIDE: usize = 8;

impl TransformerNet {
    /// Like `forward`, with `border` extra pixels of reflection on every side, cropped
    /// away afterwards: the edge band falls outside the picture (see
    /// [`crate::stylize::DEFAULT_BORDER_PAD`]).
    pub fn forward_with_border(&self, x: &Tensor, border: usize) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let ph = (h + 2 * border).next_multiple_of(4).max(MIN_SIDE) - h - 2 * border;
        let pw = (w + 2 * border).next_multiple_of(4).max(MIN_SIDE) - w - 2 * border;
        let padded = reflection_pad2d(x, border, border + ph, border, border + pw)?;
        let y = self.forward_raw(&padded)?;
        let y = if border > 0 || ph > 0 || pw > 0 {
            y.narrow(2, border, h)?.narrow(3, border, w)?
        } else {
            y
        };
        y.clamp(0f32, 255f32)
    }
}

impl Module for TransformerNet {
    /// Any input size: sides are reflection-padded up to a multiple of 4 (and at least
    /// `MIN_SIDE`), the output cropped back to the input's size and clamped to [0, 255].
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with_border(x, 0)
    }
}
