//! ONNX files of the network: written from a model (`export`, standard opset-13 operators)
//! and read back, or from a pytorch/examples `--export_onnx` file (`import`). The protobuf
//! messages are hand-written prost structs (`proto`), so the build needs no protoc.

pub mod export;
pub mod import;
pub mod proto;

pub use export::{export, to_onnx, ExportOptions};
pub use import::import;
