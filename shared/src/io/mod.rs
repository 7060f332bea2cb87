//! Files: the model file format, reading and writing images (and image/tensor conversion),
//! and the atomic write both save through.

pub mod atomic;
pub mod image;
pub mod model_file;
