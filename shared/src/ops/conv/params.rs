//! A convolution's stride and zero padding, and the output size they give: shared by the
//! layer, the CPU kernels, the gradient op and the cuDNN path.

use candle_core::{Result, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvParams {
    pub stride: usize,
    /// Zero padding on every side (the transformer pads by reflection beforehand: 0).
    pub padding: usize,
}

impl ConvParams {
    /// Output length along an axis of `len` (unpadded) pixels for a `k`-tap kernel.
    pub fn out_len(self, len: usize, k: usize) -> usize {
        (len + 2 * self.padding - k) / self.stride + 1
    }

    /// The output's dims for an `(n, c, h, w)` input and `(o, c, kh, kw)` kernel, or an
    /// error for shapes no convolution has (a kernel reading outside its input).
    pub fn out_dims(self, x: [usize; 4], w: [usize; 4]) -> Result<[usize; 4]> {
        let (hp, wp) = (x[2] + 2 * self.padding, x[3] + 2 * self.padding);
        if x[1] != w[1] || hp < w[2] || wp < w[3] || self.stride == 0 {
            candle_core::bail!("conv2d: no convolution of x {x:?} by w {w:?} with {self:?}");
        }
        Ok([
            x[0],
            w[0],
            self.out_len(x[2], w[2]),
            self.out_len(x[3], w[3]),
        ])
    }
}

/// Which gradients a convolution's backward computes: the input's when it is tracked, the
/// kernel's when it is tracked and not `frozen` (the VGG loss network's weights).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GradsWanted {
    pub input: bool,
    pub kernel: bool,
}

impl GradsWanted {
    pub fn of(x: &Tensor, w: &Tensor, frozen: bool) -> Self {
        Self {
            input: x.track_op(),
            kernel: !frozen && w.track_op(),
        }
    }

    pub fn any(self) -> bool {
        self.input || self.kernel
    }
}
