//! stylecast: fast neural style transfer (Johnson, Alahi & Fei-Fei 2016) in Rust.
//!
//! The image transformation network, its model file format, image/tensor conversion and a
//! stylizing API shared by the trainer (`host-train`) and the edge runtime. Layout:
//! - [`net`]: the network, laid out as pytorch/examples `fast_neural_style` (config, blocks);
//! - [`ops`]: the operations it runs where candle lacks them or is slow (convolution, instance
//!   norm, padding, pooling, ReLU, upsampling), with their CPU kernels and cuDNN path;
//! - [`io`]: model files, images, atomic writes;
//! - [`stylize`]: the API (load a model, stylize an image); [`device`]: choosing the device;
//!   [`tuning`]: process-wide allocator and thread settings; [`error`]: the error type.

pub mod device;
pub mod error;
pub mod io;
pub mod net;
pub mod ops;
pub mod stylize;
pub mod tuning;

#[cfg(feature = "cuda")]
mod cuda_link_stubs;

pub use device::parse_device;
pub use error::{Error, Result};
pub use io::atomic::atomic_write;
pub use io::model_file::{ModelFile, ModelMeta};
pub use net::config::NetConfig;
pub use net::transformer::TransformerNet;
pub use stylize::{Precision, StylizeOptions, Stylizer};
pub use tuning::{tune_cpu_workers_for_frames, tune_malloc};

// Old module paths that host-train, edge-runtime and tests still import; removed once their
// imports are rewritten to the paths above.
#[doc(hidden)]
pub use crate::io::image as image_io; // TEMP-ALIAS
#[doc(hidden)]
pub use crate::io::model_file; // TEMP-ALIAS
#[doc(hidden)]
pub use crate::ops::conv; // TEMP-ALIAS
#[doc(hidden)]
pub use crate::ops::padding; // TEMP-ALIAS
#[doc(hidden)]
pub use crate::ops::pool; // TEMP-ALIAS
#[doc(hidden)]
pub use crate::ops::relu; // TEMP-ALIAS

/// Helpers for the unit tests of several modules.
#[cfg(test)]
pub(crate) mod test_util {
    use candle_core::{DType, Device, Tensor};

    /// Largest absolute difference over the largest magnitude of `want`, computed in f64 on
    /// the CPU whatever the tensors' device and dtype.
    pub fn max_rel(got: &Tensor, want: &Tensor) -> f64 {
        let cpu64 = |t: &Tensor| {
            t.to_device(&Device::Cpu)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
        };
        let (got, want) = (cpu64(got), cpu64(want));
        let max_abs = |t: &Tensor| {
            t.abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        max_abs(&(&got - &want).unwrap()) / max_abs(&want).max(1e-30)
    }
}
