//! Files: the model file format, reading and writing images (and image/tensor conversion),
//! and the atomic write both save through.

pub mod atomic;
pub mod decode;
pub mod image;
pub mod jpeg_end;
pub mod model_file;
pub mod regular_file;
