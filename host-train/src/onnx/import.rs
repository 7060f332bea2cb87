//! Reading the weights of a fast_neural_style `TransformerNet` out of an ONNX file: one
//! that pytorch/examples `neural_style eval --export_onnx` wrote (torch.onnx), or ours.
//!
//! torch.onnx may rename initializers (`onnx::Conv_123`) or turn them into `Constant`
//! nodes, so parameters are found by graph position: the network's Conv nodes and its
//! InstanceNormalization nodes come in the forward order of pytorch/examples' layers,
//! which fixes every parameter's name; shapes are then checked against the config the
//! Conv weights imply.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use prost::Message;
use stylecast::io::model_file::{infer_config, validate};
use stylecast::io::regular_file::read_regular;
use stylecast::net::config::MAX_RESIDUAL_BLOCKS;
use stylecast::{Error, ModelFile, ModelMeta, Result};

use super::proto::{data_type, ModelProto, TensorProto};

/// Largest ONNX file read: the widest network the config allows is far smaller.
pub const MAX_ONNX_BYTES: u64 = 1 << 30;

/// Reads `path` and maps its initializers to a stylecast model (f32) of style `style`.
pub fn import(path: &Path, style: &str) -> Result<ModelFile> {
    let bytes = read_regular(path, MAX_ONNX_BYTES, "an ONNX model")?;
    from_bytes(&bytes, path, style)
}

/// [`import`] on bytes already read; `path` names the file in messages.
pub fn from_bytes(bytes: &[u8], path: &Path, style: &str) -> Result<ModelFile> {
    let err = |m: String| Error::model(path, m);
    if bytes.is_empty() {
        return Err(err("the file is empty; expected an ONNX model".into()));
    }
    let model =
        ModelProto::decode(bytes).map_err(|e| err(format!("not an ONNX model (protobuf: {e})")))?;
    let graph = match &model.graph {
        Some(g) if model.ir_version > 0 && !g.node.is_empty() => g,
        _ => {
            return Err(err(
                "not an ONNX model: it has no IR version or no graph nodes".into(),
            ))
        }
    };

    // Everything a node input may name: initializers and Constant nodes' values.
    let mut constants: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    for n in &graph.node {
        if n.op_type == "Constant" {
            let value = n.attribute.iter().find(|a| a.name == "value");
            if let (Some(out), Some(t)) = (n.output.first(), value.and_then(|a| a.t.as_ref())) {
                constants.insert(out.as_str(), t);
            }
        }
    }

    let convs: Vec<_> = graph.node.iter().filter(|n| n.op_type == "Conv").collect();
    let norms: Vec<_> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "InstanceNormalization")
        .collect();
    // 6 + 2R convolutions and 5 + 2R instance norms for R residual blocks.
    let fits = convs.len() >= 6 && convs.len() % 2 == 0 && norms.len() + 1 == convs.len();
    let blocks = convs.len().saturating_sub(6) / 2;
    if !fits || blocks > MAX_RESIDUAL_BLOCKS {
        return Err(err(format!(
            "not a fast_neural_style TransformerNet: {} Conv and {} InstanceNormalization nodes \
             (expected 6+2R and 5+2R for R residual blocks, R at most {MAX_RESIDUAL_BLOCKS})",
            convs.len(),
            norms.len()
        )));
    }
    let (conv_names, norm_names) = layer_names(blocks);

    let mut tensors = HashMap::new();
    let mut take =
        |node_name: &str, op: &str, index: usize, inputs: &[String], names: [String; 2]| {
            for (slot, name) in names.into_iter().enumerate() {
                let input = inputs
                    .get(slot + 1)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| {
                        err(format!(
                            "{op} node {index} ({node_name}) has no input {} for {name}",
                            slot + 1
                        ))
                    })?;
                let t = constants.get(input.as_str()).ok_or_else(|| {
                    err(format!(
                        "{op} node {index} ({node_name}): input {input} for {name} is not an \
                     initializer or constant"
                    ))
                })?;
                let value = tensor_from_proto(t)
                    .map_err(|m| err(format!("tensor {input} ({name}): {m}")))?;
                tensors.insert(name, value);
            }
            Ok::<_, Error>(())
        };
    for (i, (n, layer)) in convs.iter().zip(&conv_names).enumerate() {
        let names = [
            format!("{layer}.conv2d.weight"),
            format!("{layer}.conv2d.bias"),
        ];
        take(&n.name, "Conv", i + 1, &n.input, names)?;
    }
    for (i, (n, layer)) in norms.iter().zip(&norm_names).enumerate() {
        let names = [format!("{layer}.weight"), format!("{layer}.bias")];
        take(&n.name, "InstanceNormalization", i + 1, &n.input, names)?;
    }
    let config = infer_config(&tensors, path)?;
    validate(&tensors, &config, path)?;
    Ok(ModelFile {
        meta: ModelMeta::new(style, config),
        tensors,
    })
}

/// Our parameter prefixes, in forward order: the Conv layers, then the norms.
fn layer_names(blocks: usize) -> (Vec<String>, Vec<String>) {
    let mut convs: Vec<String> = ["conv1", "conv2", "conv3"].map(String::from).into();
    let mut norms: Vec<String> = ["in1", "in2", "in3"].map(String::from).into();
    for i in 1..=blocks {
        convs.extend([format!("res{i}.conv1"), format!("res{i}.conv2")]);
        norms.extend([format!("res{i}.in1"), format!("res{i}.in2")]);
    }
    convs.extend(["deconv1", "deconv2", "deconv3"].map(String::from));
    norms.extend(["in4", "in5"].map(String::from));
    (convs, norms)
}

/// A float tensor (f32, f16 or f64, raw or typed fields) as an f32 tensor. The element
/// count is checked against the stored data before anything is allocated for it.
fn tensor_from_proto(t: &TensorProto) -> std::result::Result<Tensor, String> {
    if !t.external_data.is_empty() || t.data_location == 1 {
        return Err("its data is in an external file, which is not supported".into());
    }
    let mut count: usize = 1;
    for &d in &t.dims {
        let d = usize::try_from(d).map_err(|_| format!("negative dimension {d}"))?;
        count = count
            .checked_mul(d)
            .ok_or_else(|| format!("dimensions {:?} overflow", t.dims))?;
    }
    let (width, typed) = match t.data_type {
        data_type::FLOAT => (4, t.float_data.len()),
        data_type::FLOAT16 => (2, t.int32_data.len()),
        data_type::DOUBLE => (8, t.double_data.len()),
        other => {
            return Err(format!(
                "data type {other}; expected a float type (1, 10 or 11)"
            ))
        }
    };
    let stored = if t.raw_data.is_empty() {
        typed
    } else {
        t.raw_data.len() / width
    };
    if stored != count || (!t.raw_data.is_empty() && t.raw_data.len() % width != 0) {
        return Err(format!(
            "{} values stored for shape {:?} ({count} expected)",
            stored, t.dims
        ));
    }
    let raw = &t.raw_data;
    let values: Vec<f32> = match t.data_type {
        data_type::FLOAT if raw.is_empty() => t.float_data.clone(),
        data_type::FLOAT => raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        data_type::FLOAT16 if raw.is_empty() => t
            .int32_data
            .iter()
            .map(|&v| half::f16::from_bits(v as u16).to_f32())
            .collect(),
        data_type::FLOAT16 => raw
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        _ if raw.is_empty() => t.double_data.iter().map(|&v| v as f32).collect(),
        _ => raw
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
            .collect(),
    };
    let shape: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::export::{to_onnx, ExportOptions};
    use crate::onnx::proto::{GraphProto, NodeProto};
    use candle_core::DType;

    fn small() -> ModelFile {
        let p =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/small/starry_night.safetensors");
        ModelFile::load(&p, &Device::Cpu).unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn import_proto(m: &ModelProto) -> Result<ModelFile> {
        from_bytes(&m.encode_to_vec(), Path::new("x.onnx"), "back")
    }

    #[test]
    fn export_then_import_gives_the_same_weights() {
        let m = small();
        for border_pad in [None, Some(32)] {
            let opts = ExportOptions {
                f16: false,
                border_pad,
            };
            let back = import_proto(&to_onnx(&m, &opts).unwrap()).unwrap();
            assert_eq!(back.meta.config, m.meta.config);
            assert_eq!(back.meta.style, "back");
            assert_eq!(back.tensors.len(), m.tensors.len());
            for (name, t) in &m.tensors {
                assert_eq!(values(&back.tensors[name]), values(t), "{name}");
            }
        }
        // f16: the f16-rounded weights, exactly.
        let opts = ExportOptions {
            f16: true,
            border_pad: None,
        };
        let back = import_proto(&to_onnx(&m, &opts).unwrap()).unwrap();
        let want = m.to_dtype(DType::F16).unwrap();
        for (name, t) in &want.tensors {
            assert_eq!(values(&back.tensors[name]), values(t), "{name}");
        }
    }

    #[test]
    fn initializers_are_found_by_position_not_name() {
        let m = small();
        let mut p = to_onnx(&m, &ExportOptions::default()).unwrap();
        let g = p.graph.as_mut().unwrap();
        // As torch.onnx may rename them; and one moved into a Constant node.
        let mut renamed = HashMap::new();
        for (i, t) in g.initializer.iter_mut().enumerate() {
            let new = format!("onnx::Conv_{i}");
            renamed.insert(std::mem::replace(&mut t.name, new.clone()), new);
        }
        for n in &mut g.node {
            for input in &mut n.input {
                if let Some(new) = renamed.get(input) {
                    *input = new.clone();
                }
            }
        }
        let last = g.initializer.pop().unwrap();
        g.node.insert(
            0,
            NodeProto {
                op_type: "Constant".into(),
                output: vec![last.name.clone()],
                attribute: vec![crate::onnx::proto::AttributeProto {
                    name: "value".into(),
                    r#type: crate::onnx::proto::attribute_type::TENSOR,
                    t: Some(last),
                    ..Default::default()
                }],
                ..Default::default()
            },
        );
        let back = import_proto(&p).unwrap();
        for (name, t) in &m.tensors {
            assert_eq!(values(&back.tensors[name]), values(t), "{name}");
        }
    }

    #[test]
    fn the_export_uses_only_standard_ops() {
        let m = small();
        let ops = |border_pad| {
            let p = to_onnx(
                &m,
                &ExportOptions {
                    f16: false,
                    border_pad,
                },
            )
            .unwrap();
            let mut ops: Vec<String> = p
                .graph
                .unwrap()
                .node
                .into_iter()
                .map(|n| n.op_type)
                .collect();
            ops.sort();
            ops.dedup();
            ops
        };
        assert_eq!(
            ops(None),
            [
                "Add",
                "Clip",
                "Conv",
                "InstanceNormalization",
                "Pad",
                "Relu",
                "Resize"
            ]
        );
        let with_border = ops(Some(32));
        for op in ["Shape", "Slice", "Mod", "Concat"] {
            assert!(
                with_border.iter().any(|o| o == op),
                "{op} in {with_border:?}"
            );
        }
    }

    fn err_of(bytes: &[u8]) -> String {
        from_bytes(bytes, Path::new("styles/bad.onnx"), "x")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn non_onnx_bytes_are_refused_naming_the_file() {
        for (bytes, want) in [
            (&b""[..], "empty"),
            (&b"hello, this is text"[..], "not an ONNX model"),
            (&b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..], "not an ONNX model"),
            (&[0xff; 64][..], "not an ONNX model"),
        ] {
            let e = err_of(bytes);
            assert!(e.contains("styles/bad.onnx") && e.contains(want), "{e}");
        }
    }

    #[test]
    fn another_graph_or_missing_tensors_are_refused() {
        let conv = NodeProto {
            op_type: "Conv".into(),
            input: vec!["x".into(), "w".into(), "b".into()],
            ..Default::default()
        };
        let other = ModelProto {
            ir_version: 7,
            graph: Some(GraphProto {
                node: vec![conv],
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = err_of(&other.encode_to_vec());
        assert!(
            e.contains("not a fast_neural_style TransformerNet: 1 Conv"),
            "{e}"
        );

        let full = to_onnx(&small(), &ExportOptions::default()).unwrap();
        let mut missing = full.clone();
        let g = missing.graph.as_mut().unwrap();
        g.initializer.retain(|t| t.name != "res2.in1.bias");
        let e = err_of(&missing.encode_to_vec());
        assert!(
            e.contains("res2.in1.bias") && e.contains("not an initializer"),
            "{e}"
        );

        let mut short = full.clone();
        let t = short
            .graph
            .as_mut()
            .unwrap()
            .initializer
            .iter_mut()
            .find(|t| t.name == "conv2.conv2d.weight")
            .unwrap();
        t.raw_data.truncate(t.raw_data.len() - 4);
        let e = err_of(&short.encode_to_vec());
        assert!(
            e.contains("conv2.conv2d.weight") && e.contains("values stored"),
            "{e}"
        );

        // Consistent data of the wrong shape: caught by the model's own shape check.
        let mut reshaped = full.clone();
        let t = reshaped
            .graph
            .as_mut()
            .unwrap()
            .initializer
            .iter_mut()
            .find(|t| t.name == "in3.weight")
            .unwrap();
        t.dims = vec![t.dims[0] / 2, 2];
        let e = err_of(&reshaped.encode_to_vec());
        assert!(e.contains("in3.weight"), "{e}");

        let mut huge = full;
        let t = huge
            .graph
            .as_mut()
            .unwrap()
            .initializer
            .iter_mut()
            .find(|t| t.name == "in1.bias")
            .unwrap();
        t.dims = vec![i64::MAX, 4];
        let e = err_of(&huge.encode_to_vec());
        assert!(e.contains("overflow"), "{e}");
    }
}
