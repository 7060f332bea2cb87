//! The image transformation network of Johnson et al. 2016, laid out exactly as
//! pytorch/examples `fast_neural_style` (`TransformerNet`), parameter names included.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::conv::{Conv2d, ConvParams};

use crate::config::NetConfig;
use crate::instance_norm::{InstanceNorm, Then};
use crate::padding::{reflection_pad2d, ReflectionPad2d};
use crate::upsample::upsample_nearest2x;

/// Reflection pad by k/2, then a convolution (`ConvLayer` in pytorch/examples).
#[derive(Debug, Clone)]
pub struct ConvLayer {
    pad: ReflectionPad2d,
    conv: Conv2d,
}

impl ConvLayer {
    pub fn new(cin: usize, cout: usize, k: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let conv = Conv2d::load(
            cin,
            cout,
            k,
            ConvParams { stride, padding: 0 },
            vb.pp("conv2d"),
        )?;
        Ok(Self {
            pad: ReflectionPad2d(k / 2),
            conv,
        })
    }

    /// The layer for an instance norm to follow: without its bias when nothing is
    /// differentiated, since the norm subtracts any per-channel constant again.
    pub fn forward_before_norm(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, false)
    }

    /// With the bias, or without it when nothing is differentiated (`bias == false`).
    fn forward_with(&self, x: &Tensor, bias: bool) -> Result<Tensor> {
        let ConvParams { stride, .. } = self.conv.params();
        let fused =
            crate::conv::conv2d_reflect_padded_cpu(x, self.conv.weight(), stride, self.pad.0)?;
        if let Some(y) = fused {
            return if bias { self.conv.add_bias(y) } else { Ok(y) };
        }
        self.conv.forward_with(&self.pad.forward(x)?, bias)
    }

    /// This layer applied to `upsample_nearest2x(x)`, computed from `x` directly (see
    /// [`crate::subpixel`]) when that applies: CPU inference, 3x3 kernel, stride 1. Without
    /// the bias unless `bias`.
    fn forward_upsampled_cpu(&self, x: &Tensor, bias: bool) -> Result<Option<Tensor>> {
        let w = self.conv.weight();
        let applies = x.device().is_cpu()
            && !x.track_op()
            && !w.track_op()
            && w.dim(2)? == 3
            && self.pad.0 == 1
            && self.conv.params()
                == ConvParams {
                    stride: 1,
                    padding: 0,
                };
        if !applies {
            return Ok(None);
        }
        let y = crate::subpixel::upsample2x_conv3x3(x, w, |x, w| {
            crate::conv::conv2d_im2col_cpu(
                x,
                w,
                ConvParams {
                    stride: 1,
                    padding: 0,
                },
            )
        })?;
        Ok(Some(if bias { self.conv.add_bias(y)? } else { y }))
    }
}

impl Module for ConvLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, true)
    }
}

/// Nearest x2 upsample, then a `ConvLayer` (`UpsampleConvLayer`).
#[derive(Debug, Clone)]
pub struct UpsampleConvLayer {
    upsample: bool,
    conv: ConvLayer,
}

impl UpsampleConvLayer {
    pub fn new(cin: usize, cout: usize, k: usize, upsample: bool, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            upsample,
            conv: ConvLayer::new(cin, cout, k, 1, vb)?,
        })
    }
}

impl UpsampleConvLayer {
    /// The layer for an instance norm to follow (see [`ConvLayer::forward_before_norm`]).
    pub fn forward_before_norm(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, false)
    }

    fn forward_with(&self, x: &Tensor, bias: bool) -> Result<Tensor> {
        if !self.upsample {
            return self.conv.forward_with(x, bias);
        }
        if let Some(y) = self.conv.forward_upsampled_cpu(x, bias)? {
            return Ok(y);
        }
        self.conv.forward_with(&upsample_nearest2x(x)?, bias)
    }
}

impl Module for UpsampleConvLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, true)
    }
}

/// conv-IN-ReLU-conv-IN plus the identity.
#[derive(Debug, Clone)]
pub struct ResidualBlock {
    conv1: ConvLayer,
    in1: InstanceNorm,
    conv2: ConvLayer,
    in2: InstanceNorm,
}

impl ResidualBlock {
    pub fn new(channels: usize, stat: DType, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            conv1: ConvLayer::new(channels, channels, 3, 1, vb.pp("conv1"))?,
            in1: InstanceNorm::new(channels, stat, vb.pp("in1"))?,
            conv2: ConvLayer::new(channels, channels, 3, 1, vb.pp("conv2"))?,
            in2: InstanceNorm::new(channels, stat, vb.pp("in2"))?,
        })
    }
}

impl Module for ResidualBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.conv1.forward_before_norm(x)?;
        let y = self.in1.forward_then(&y, Then::Relu)?;
        let y = self.conv2.forward_before_norm(&y)?;
        self.in2.forward_then(&y, Then::Add(x))
    }
}

/// The whole network. Input and output are NCHW RGB in [0, 255].
#[derive(Debug, Clone)]
pub struct TransformerNet {
    conv1: ConvLayer,
    in1: InstanceNorm,
    conv2: ConvLayer,
    in2: InstanceNorm,
    conv3: ConvLayer,
    in3: InstanceNorm,
    res: Vec<ResidualBlock>,
    deconv1: UpsampleConvLayer,
    in4: InstanceNorm,
    deconv2: UpsampleConvLayer,
    in5: InstanceNorm,
    deconv3: UpsampleConvLayer,
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
        let res = (1..=config.residual_blocks)
            .map(|i| ResidualBlock::new(c3, stat, vb.pp(format!("res{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            conv1: ConvLayer::new(3, c1, 9, 1, vb.pp("conv1"))?,
            in1: InstanceNorm::new(c1, stat, vb.pp("in1"))?,
            conv2: ConvLayer::new(c1, c2, 3, 2, vb.pp("conv2"))?,
            in2: InstanceNorm::new(c2, stat, vb.pp("in2"))?,
            conv3: ConvLayer::new(c2, c3, 3, 2, vb.pp("conv3"))?,
            in3: InstanceNorm::new(c3, stat, vb.pp("in3"))?,
            res,
            deconv1: UpsampleConvLayer::new(c3, c2, 3, true, vb.pp("deconv1"))?,
            in4: InstanceNorm::new(c2, stat, vb.pp("in4"))?,
            deconv2: UpsampleConvLayer::new(c2, c1, 3, true, vb.pp("deconv2"))?,
            in5: InstanceNorm::new(c1, stat, vb.pp("in5"))?,
            deconv3: UpsampleConvLayer::new(c1, 3, 9, false, vb.pp("deconv3"))?,
            config: *config,
        })
    }

    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// The raw network on an input whose sides are multiples of 4, unclamped: this is
    /// what training differentiates and what the PyTorch reference computes.
    pub fn forward_raw(&self, x: &Tensor) -> Result<Tensor> {
        let y = self
            .in1
            .forward_then(&self.conv1.forward_before_norm(x)?, Then::Relu)?;
        let y = self
            .in2
            .forward_then(&self.conv2.forward_before_norm(&y)?, Then::Relu)?;
        let mut y = self
            .in3
            .forward_then(&self.conv3.forward_before_norm(&y)?, Then::Relu)?;
        for block in &self.res {
            y = block.forward(&y)?;
        }
        let y = self
            .in4
            .forward_then(&self.deconv1.forward_before_norm(&y)?, Then::Relu)?;
        let y = self
            .in5
            .forward_then(&self.deconv2.forward_before_norm(&y)?, Then::Relu)?;
        self.deconv3.forward(&y)
    }
}

/// Smallest side the network takes: the 1/4-resolution feature map needs two pixels
/// so that its 1-pixel reflection pad exists.
pub const MIN_SIDE: usize = 8;

impl TransformerNet {
    /// Like `forward`, with `border` extra pixels of reflection on every side, cropped
    /// away afterwards. Trained networks answer the image's edge with a band of their own
    /// (starry_night: ~24 px of yellow down the left side, at any image size, since
    /// convolutions are local); with the edge moved outwards, that band lands in the
    /// part that is cropped off.
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
