//! The network's layers and blocks, named and built as in pytorch/examples
//! `fast_neural_style`: a reflection-padded convolution (`ConvLayer`, `UpsampleConvLayer`),
//! conv + instance norm + ReLU, and the residual block.
//!
//! The inference fast paths live here: a convolution that an instance norm follows skips its
//! bias when nothing is differentiated (the norm subtracts any per-channel constant again),
//! the ReLU or residual add runs in the norm's pass, the reflection pad is read in place by
//! the CPU convolution, and an upsampling layer is computed from the small image.

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::ops::conv::cpu::{conv2d_im2col_cpu, conv2d_reflect_padded_cpu};
use crate::ops::conv::layer::Conv2d;
use crate::ops::conv::params::ConvParams;
use crate::ops::instance_norm::{InstanceNorm, Then};
use crate::ops::padding::ReflectionPad2d;
use crate::ops::subpixel::upsample2x_conv3x3;
use crate::ops::upsample::upsample_nearest2x;

/// Reflection pad by k/2, then a convolution (`ConvLayer` in pytorch/examples); with
/// `upsample`, a nearest x2 upsample first (`UpsampleConvLayer`). Parameters
/// `conv2d.weight` and `conv2d.bias` under `vb`.
#[derive(Debug, Clone)]
pub struct ConvLayer {
    upsample: bool,
    pad: ReflectionPad2d,
    conv: Conv2d,
}

impl ConvLayer {
    pub fn new(cin: usize, cout: usize, k: usize, stride: usize, vb: VarBuilder) -> Result<Self> {
        let params = ConvParams { stride, padding: 0 };
        Ok(Self {
            upsample: false,
            pad: ReflectionPad2d(k / 2),
            conv: Conv2d::load(cin, cout, k, params, vb.pp("conv2d"))?,
        })
    }

    /// Nearest x2 upsample, then the stride-1 layer (`UpsampleConvLayer`, upsample 2).
    pub fn upsampling(cin: usize, cout: usize, k: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            upsample: true,
            ..Self::new(cin, cout, k, 1, vb)?
        })
    }

    pub fn out_channels(&self) -> Result<usize> {
        self.conv.weight().dim(0)
    }

    /// The layer for an instance norm to follow: without its bias when nothing is
    /// differentiated, since the norm subtracts any per-channel constant again.
    pub fn forward_before_norm(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, false)
    }

    /// With the bias, or without it when nothing is differentiated (`bias == false`).
    fn forward_with(&self, x: &Tensor, bias: bool) -> Result<Tensor> {
        if !self.upsample {
            return self.padded_conv(x, bias);
        }
        if let Some(y) = self.upsampled_conv_cpu(x, bias)? {
            return Ok(y);
        }
        self.padded_conv(&upsample_nearest2x(x)?, bias)
    }

    /// Pad, then convolve; on the CPU the convolution reads the reflection in place
    /// (Winograd for the 3x3 layers where that applies).
    fn padded_conv(&self, x: &Tensor, bias: bool) -> Result<Tensor> {
        let ConvParams { stride, .. } = self.conv.params();
        let y = match self.conv.forward_reflect_winograd(x, self.pad.0)? {
            Some(y) => Some(y),
            None => conv2d_reflect_padded_cpu(x, self.conv.weight(), stride, self.pad.0)?,
        };
        if let Some(y) = y {
            return if bias { self.conv.add_bias(y) } else { Ok(y) };
        }
        self.conv.forward_with(&self.pad.forward(x)?, bias)
    }

    /// This layer applied to `upsample_nearest2x(x)`, computed from `x` directly (see
    /// [`crate::ops::subpixel`]) when that applies: CPU inference, 3x3 kernel, stride 1.
    fn upsampled_conv_cpu(&self, x: &Tensor, bias: bool) -> Result<Option<Tensor>> {
        let w = self.conv.weight();
        let stride1 = ConvParams {
            stride: 1,
            padding: 0,
        };
        let applies = x.device().is_cpu()
            && !x.track_op()
            && !w.track_op()
            && w.dim(2)? == 3
            && self.pad.0 == 1
            && self.conv.params() == stride1;
        if !applies {
            return Ok(None);
        }
        let y = upsample2x_conv3x3(x, w, |x, w| conv2d_im2col_cpu(x, w, stride1))?;
        Ok(Some(if bias { self.conv.add_bias(y)? } else { y }))
    }
}

impl Module for ConvLayer {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, true)
    }
}

/// A [`ConvLayer`], instance norm over its output channels, then ReLU: one row of the
/// paper's table. The layer's and the norm's parameters have names of their own
/// (`conv1.conv2d.*` and `in1.*`), hence the two builders.
#[derive(Debug, Clone)]
pub struct ConvBlock {
    conv: ConvLayer,
    norm: InstanceNorm,
}

impl ConvBlock {
    /// `styles`: how many styles the norm holds; `stat`: the dtype of the instance-norm
    /// statistics (see [`InstanceNorm::new`]).
    pub fn new(conv: ConvLayer, styles: usize, stat: DType, norm_vb: VarBuilder) -> Result<Self> {
        let norm = InstanceNorm::new(conv.out_channels()?, styles, stat, norm_vb)?;
        Ok(Self { conv, norm })
    }

    /// The block with its norm's styles mixed by `mix` (see [`InstanceNorm::styled`]);
    /// the convolution is shared, not copied.
    pub fn styled(&self, mix: &Tensor) -> Result<Self> {
        Ok(Self {
            conv: self.conv.clone(),
            norm: self.norm.styled(mix)?,
        })
    }

    pub fn styles(&self) -> usize {
        self.norm.styles()
    }

    /// Conv and norm, then `then` in the norm's pass.
    fn forward_then(&self, x: &Tensor, then: Then) -> Result<Tensor> {
        self.norm
            .forward_then(&self.conv.forward_before_norm(x)?, then)
    }
}

impl Module for ConvBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_then(x, Then::Relu)
    }
}

/// conv-IN-ReLU-conv-IN plus the identity (`res{i}.conv1`, `res{i}.in1`, `res{i}.conv2`,
/// `res{i}.in2`).
#[derive(Debug, Clone)]
pub struct ResidualBlock {
    block1: ConvBlock,
    block2: ConvBlock,
}

impl ResidualBlock {
    pub fn new(channels: usize, styles: usize, stat: DType, vb: VarBuilder) -> Result<Self> {
        let conv = |name: &str| ConvLayer::new(channels, channels, 3, 1, vb.pp(name));
        Ok(Self {
            block1: ConvBlock::new(conv("conv1")?, styles, stat, vb.pp("in1"))?,
            block2: ConvBlock::new(conv("conv2")?, styles, stat, vb.pp("in2"))?,
        })
    }

    pub fn styled(&self, mix: &Tensor) -> Result<Self> {
        Ok(Self {
            block1: self.block1.styled(mix)?,
            block2: self.block2.styled(mix)?,
        })
    }
}

impl Module for ResidualBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.block1.forward(x)?;
        self.block2.forward_then(&y, Then::Add(x))
    }
}
