//! The tensor operations the network and the VGG loss network run, where candle lacks one or
//! differentiates it slowly: each has hand-written CPU kernels (f32, f64) and falls back to
//! candle's tensor ops on other devices and dtypes (BENCHMARKS.md).

pub mod conv;
pub(crate) mod cpu_values;
pub mod instance_norm;
pub mod padding;
pub mod pool;
pub mod relu;
pub mod subpixel;
pub mod upsample;
