//! 2-D convolution with its own CPU paths and a backward pass built from GEMMs and forward
//! convolutions.
//!
//! candle 0.11 differentiates `conv2d` with `conv_transpose2d`, a direct (naive) kernel on
//! both CPU and CUDA that dominates a training step, and it also computes the kernel
//! gradient of frozen weights (the VGG loss network). Here the forward runs on detached
//! inputs and a zero-valued custom op carries the gradient (BENCHMARKS.md):
//! - [`params`]: stride, padding and output sizes;
//! - [`layer`]: the [`Conv2d`] layer, which picks a path and adds the bias;
//! - [`cpu`]: CPU forward kernels (banded im2col + GEMM, kn2row for few output channels,
//!   reflection padding read in place);
//! - [`grad`]: the gradient op and its CPU kernels (col2im, one GEMM per band);
//! - [`winograd`]: Winograd F(4x4, 3x3) for the 3x3 stride-1 inference layers on the CPU;
//! - `cudnn`: forward and gradients through cuDNN (feature `cudnn`).

pub(crate) mod cpu;
#[cfg(feature = "cudnn")]
pub mod cudnn;
mod grad;
pub mod layer;
pub mod params;
pub mod winograd;

pub use layer::Conv2d;
pub use params::ConvParams;
