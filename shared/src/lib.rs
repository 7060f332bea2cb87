//! stylecast: fast neural style transfer (Johnson, Alahi & Fei-Fei 2016) in Rust.
//!
//! The image transformation network, its model file format, image/tensor conversion and a
//! stylizing API shared by the trainer (`host-train`) and the edge runtime. Layout:
//! - [`net`]: the network, laid out as pytorch/examples `fast_neural_style` (config, blocks);
//! - [`ops`]: the operations it runs where candle lacks them or is slow (convolution, instance
//!   norm, padding, pooling, ReLU, upsampling), with their CPU kernels and cuDNN path;
//! - [`io`]: model files, images, atomic writes;
//! - [`stylize`]: the API (load a model, stylize an image); [`device`]: choosing the device;
//!   [`tiling`]: big images in overlapping tiles; [`text`]: bitmap text on pictures; [`compare`]: how far one tensor is from another;
//!   [`memory`]: refusing work that cannot fit; [`tuning`]: process-wide allocator and thread settings; [`error`]: the error type.

pub mod compare;
pub mod device;
pub mod error;
pub mod io;
pub mod memory;
pub mod net;
pub mod ops;
pub mod stylize;
pub mod temporal;
pub mod text;
pub mod tiling;
pub mod tuning;

#[cfg(feature = "cuda")]
mod cuda_link_stubs;

pub use device::parse_device;
pub use error::{Error, Result};
pub use io::atomic::atomic_write;
pub use io::model_file::{ModelFile, ModelMeta};
pub use net::config::NetConfig;
pub use net::style_mix::StyleMix;
pub use net::transformer::TransformerNet;
pub use stylize::{Precision, StylizeOptions, Stylizer};
pub use tuning::{tune_cpu_workers_for_frames, tune_malloc};

#[cfg(test)]
pub(crate) mod test_util;
