//! Files: the model file format, reading and writing images (and image/tensor conversion),
//! video files as frames (through ffmpeg), and the atomic write every output saves through.

pub mod atomic;
pub mod decode;
pub mod image;
pub mod jpeg_end;
pub mod model_file;
pub mod regular_file;
pub mod video;
