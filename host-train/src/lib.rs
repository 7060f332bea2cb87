//! host-train: training stylecast styles against VGG-16 perceptual losses.

pub mod adam;
pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod eval;
pub mod hub;
pub mod loss;
pub mod model;
pub mod plot;
pub mod stability;
pub mod train;
pub mod vgg;
