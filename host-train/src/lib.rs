//! host-train: training stylecast styles against VGG-16 perceptual losses, and the tools
//! around it (evaluation, benchmarks, device checks, loss plots).
//!
//! The library holds the work; the `host-train` binary (`main.rs`, `cli.rs`) parses the
//! command line into the plain option structs below and calls one function per command.

pub mod adam;
pub mod add_style;
pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod device_check;
pub mod eval;
pub mod eval_video;
pub mod flow;
pub mod hub;
pub mod log;
pub mod loss;
pub mod model;
pub mod onnx;
pub mod options;
pub mod plot;
pub mod stability;
pub mod style;
pub mod train;
pub mod vgg;
pub mod warp_error;
pub mod weights;
