//! A stylecast model as an ONNX graph of standard opset-13 operators, node for node the
//! layers of `stylecast::net` (see docs/onnx.md for the file's inputs, outputs and options).

use std::path::Path;

use candle_core::DType;
use prost::Message;
use stylecast::net::config::NetConfig;
use stylecast::ops::instance_norm::InstanceNorm;
use stylecast::{Error, ModelFile, Result};

use super::proto::{
    attribute_type, data_type, AttributeProto, DimValue, Dimension, GraphProto, ModelProto,
    NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto,
    TypeProto, TypeProtoTensor, ValueInfoProto, IR_VERSION,
};

/// The default opset: the oldest with Pad's pads and Clip's bounds as inputs and Resize
/// in its present form, all of which the consumers we check read.
pub const OPSET: i64 = 13;
/// The graph's input and output names.
pub const INPUT: &str = "input";
pub const OUTPUT: &str = "output";

/// `--with-border-pad` without a value: the runtime's default, as clap wants it (a
/// string; a unit test keeps the two equal).
pub const DEFAULT_BORDER_PAD_ARG: &str = "32";
/// The widest border a file may mirror: reflection needs the picture to be larger than
/// the border, so wider ones would only fail at run time on ordinary photos.
pub const MAX_BORDER_PAD: u32 = 256;

/// What to write besides the network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportOptions {
    /// f16 initializers, input and output (and f16 arithmetic where the runtime has it).
    pub f16: bool,
    /// Mirror this many pixels onto every side (plus up to a multiple of 4) before the
    /// network and crop them off after, as edge-runtime's `--border-pad`; `None`: the bare
    /// network, whose input sides must be multiples of 4.
    pub border_pad: Option<u32>,
}

/// Writes `model` as an ONNX file at `out` (atomically).
pub fn export(model: &ModelFile, opts: &ExportOptions, out: &Path) -> Result<()> {
    let bytes = to_onnx(model, opts)?.encode_to_vec();
    stylecast::atomic_write(out, &bytes)
}

/// The ONNX model of `model`: the layer order of `TransformerNet::forward_raw`, then
/// (with a border) the crop, then the clamp to [0, 255] that the runtime applies.
pub fn to_onnx(model: &ModelFile, opts: &ExportOptions) -> Result<ModelProto> {
    let config = model.meta.config;
    let mut g = Builder::new(model, opts.f16);
    let io_type = g.float_type;
    let mut x = INPUT.to_string();
    let border = opts.border_pad.map(|b| g.border_pad(&x, b as i64));
    if let Some((padded, _)) = &border {
        x = padded.clone();
    }
    x = g.network(&x, &config)?;
    if let Some((_, crop)) = border {
        x = crop(&mut g, &x);
    }
    let (lo, hi) = (
        g.float_scalar("clip_min", 0.0),
        g.float_scalar("clip_max", 255.0),
    );
    g.node("Clip", &[&x, &lo, &hi], OUTPUT, vec![]);

    let dims = |c: i64| {
        vec![
            dim_param("batch"),
            dim_value(c),
            dim_param("height"),
            dim_param("width"),
        ]
    };
    let graph = GraphProto {
        node: g.nodes,
        name: format!("stylecast {}", model.meta.style),
        initializer: g.initializers,
        input: vec![value_info(INPUT, io_type, dims(3))],
        output: vec![value_info(OUTPUT, io_type, dims(3))],
        doc_string: "RGB, NCHW, values in [0, 255] in and out".into(),
        ..Default::default()
    };
    let meta = |k: &str, v: String| StringStringEntryProto {
        key: k.into(),
        value: v,
    };
    let mut metadata_props = vec![
        meta("style", model.meta.style.clone()),
        meta(
            "config",
            serde_json::to_string(&config).map_err(|e| Error::Invalid(e.to_string()))?,
        ),
        meta("value_range", "0..255".into()),
    ];
    if let Some(b) = opts.border_pad {
        metadata_props.push(meta("border_pad", b.to_string()));
    }
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "stylecast host-train".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        metadata_props,
        ..Default::default()
    })
}

fn dim_param(name: &str) -> Dimension {
    Dimension {
        value: Some(DimValue::DimParam(name.into())),
    }
}

fn dim_value(v: i64) -> Dimension {
    Dimension {
        value: Some(DimValue::DimValue(v)),
    }
}

fn value_info(name: &str, elem_type: i32, dim: Vec<Dimension>) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
        ..Default::default()
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INTS,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::INT,
        i: v,
        ..Default::default()
    }
}

fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::FLOAT,
        f: v,
        ..Default::default()
    }
}

fn string(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_type::STRING,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// The crop that undoes [`Builder::border_pad`], applied to the network's output.
type Crop = Box<dyn FnOnce(&mut Builder, &str) -> String>;

/// Nodes and initializers as they are added; value names are unique by construction.
struct Builder<'a> {
    model: &'a ModelFile,
    f16: bool,
    float_type: i32,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    counter: usize,
}

impl<'a> Builder<'a> {
    fn new(model: &'a ModelFile, f16: bool) -> Self {
        Self {
            model,
            f16,
            float_type: if f16 {
                data_type::FLOAT16
            } else {
                data_type::FLOAT
            },
            nodes: Vec::new(),
            initializers: Vec::new(),
            counter: 0,
        }
    }

    /// Adds a node with one output named after `out` (made unique) and returns that name.
    fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        out: &str,
        attribute: Vec<AttributeProto>,
    ) -> String {
        let name = if out == OUTPUT {
            out.to_string()
        } else {
            self.counter += 1;
            format!("{out}_{}", self.counter)
        };
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.clone()],
            name: name.clone(),
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        name
    }

    fn int64s(&mut self, name: &str, v: &[i64]) -> String {
        if !self.initializers.iter().any(|t| t.name == name) {
            self.initializers.push(TensorProto {
                dims: vec![v.len() as i64],
                data_type: data_type::INT64,
                name: name.into(),
                raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ..Default::default()
            });
        }
        name.into()
    }

    /// A float constant in the graph's float type; `dims` empty for a scalar.
    fn floats(&mut self, name: &str, dims: Vec<i64>, v: &[f32], always_f32: bool) -> String {
        if self.initializers.iter().any(|t| t.name == name) {
            return name.into();
        }
        let (data_type, raw_data) = if self.f16 && !always_f32 {
            let raw = v
                .iter()
                .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
                .collect();
            (data_type::FLOAT16, raw)
        } else {
            let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (data_type::FLOAT, raw)
        };
        self.initializers.push(TensorProto {
            dims,
            data_type,
            name: name.into(),
            raw_data,
            ..Default::default()
        });
        name.into()
    }

    fn float_scalar(&mut self, name: &str, v: f32) -> String {
        self.floats(name, vec![], &[v], false)
    }

    /// The model's parameter `name`, stored under its own name.
    fn param(&mut self, name: &str) -> Result<String> {
        let t = self
            .model
            .tensors
            .get(name)
            .ok_or_else(|| Error::Invalid(format!("the model has no tensor {name}")))?;
        let dims = t.dims().iter().map(|&d| d as i64).collect();
        let v = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        Ok(self.floats(name, dims, &v, false))
    }

    /// `ConvLayer`: (nearest x2,) reflection pad by k/2, convolution with bias.
    fn conv(&mut self, x: &str, name: &str, k: i64, stride: i64, upsample: bool) -> Result<String> {
        let mut x = x.to_string();
        if upsample {
            let scales = self.floats("upsample_scales", vec![4], &[1.0, 1.0, 2.0, 2.0], true);
            x = self.node(
                "Resize",
                &[&x, "", &scales],
                &format!("{name}.upsample"),
                vec![
                    string("mode", "nearest"),
                    // Output pixel i reads input floor(i / 2): nearest x2 exactly.
                    string("coordinate_transformation_mode", "asymmetric"),
                    string("nearest_mode", "floor"),
                ],
            );
        }
        let p = k / 2;
        let pads = self.int64s(&format!("pads_{p}"), &[0, 0, p, p, 0, 0, p, p]);
        x = self.node(
            "Pad",
            &[&x, &pads],
            &format!("{name}.pad"),
            vec![string("mode", "reflect")],
        );
        let w = self.param(&format!("{name}.conv2d.weight"))?;
        let b = self.param(&format!("{name}.conv2d.bias"))?;
        Ok(self.node(
            "Conv",
            &[&x, &w, &b],
            &format!("{name}.conv"),
            vec![
                ints("kernel_shape", &[k, k]),
                ints("strides", &[stride, stride]),
                ints("pads", &[0, 0, 0, 0]),
                ints("dilations", &[1, 1]),
                int("group", 1),
            ],
        ))
    }

    fn norm(&mut self, x: &str, name: &str) -> Result<String> {
        let s = self.param(&format!("{name}.weight"))?;
        let b = self.param(&format!("{name}.bias"))?;
        Ok(self.node(
            "InstanceNormalization",
            &[x, &s, &b],
            name,
            vec![float("epsilon", InstanceNorm::EPS as f32)],
        ))
    }

    fn relu(&mut self, x: &str, name: &str) -> String {
        self.node("Relu", &[x], &format!("{name}.relu"), vec![])
    }

    /// `TransformerNet::forward_raw`, layer for layer.
    fn network(&mut self, x: &str, config: &NetConfig) -> Result<String> {
        let mut x = x.to_string();
        for (conv, norm, k, stride) in [
            ("conv1", "in1", 9, 1),
            ("conv2", "in2", 3, 2),
            ("conv3", "in3", 3, 2),
        ] {
            x = self.conv(&x, conv, k, stride, false)?;
            x = self.norm(&x, norm)?;
            x = self.relu(&x, norm);
        }
        for i in 1..=config.residual_blocks {
            let r = format!("res{i}");
            let mut y = self.conv(&x, &format!("{r}.conv1"), 3, 1, false)?;
            y = self.norm(&y, &format!("{r}.in1"))?;
            y = self.relu(&y, &format!("{r}.in1"));
            y = self.conv(&y, &format!("{r}.conv2"), 3, 1, false)?;
            y = self.norm(&y, &format!("{r}.in2"))?;
            x = self.node("Add", &[&y, &x], &format!("{r}.add"), vec![]);
        }
        for (conv, norm) in [("deconv1", "in4"), ("deconv2", "in5")] {
            x = self.conv(&x, conv, 3, 1, true)?;
            x = self.norm(&x, norm)?;
            x = self.relu(&x, norm);
        }
        self.conv(&x, "deconv3", 9, 1, false)
    }

    /// `TransformerNet::forward_with_border`'s padding, from the input's shape at run time:
    /// `b` on every side, the bottom and right sides further up to a multiple of 4 and at
    /// least `MIN_SIDE`. Returns the padded value and the crop back to the input's size.
    fn border_pad(&mut self, x: &str, b: i64) -> (String, Crop) {
        let min_side = stylecast::net::transformer::MIN_SIDE as i64;
        let shape = self.node("Shape", &[x], "border.shape", vec![]);
        let (two, four, zero) = (
            self.int64s("const_2", &[2]),
            self.int64s("const_4", &[4]),
            self.int64s("const_0", &[0]),
        );
        let hw = self.node("Slice", &[&shape, &two, &four, &zero], "border.hw", vec![]);
        let bb = self.int64s("border_bb", &[b, b]);
        let twice = self.int64s("border_2b", &[2 * b, 2 * b]);
        let side = self.node("Add", &[&hw, &twice], "border.side", vec![]);
        // (-side) mod 4 (ONNX integer Mod takes the divisor's sign): what rounds up to 4.
        let neg = self.node("Neg", &[&side], "border.neg", vec![]);
        let fours = self.int64s("const_4_4", &[4, 4]);
        let rem = self.node("Mod", &[&neg, &fours], "border.rem", vec![]);
        let up = self.node("Add", &[&side, &rem], "border.up", vec![]);
        let mins = self.int64s("min_sides", &[min_side, min_side]);
        let target = self.node("Max", &[&up, &mins], "border.target", vec![]);
        let extra = self.node("Sub", &[&target, &side], "border.extra", vec![]);
        let end = self.node("Add", &[&extra, &bb], "border.end", vec![]);
        let begin = self.int64s("border_begin", &[0, 0, b, b, 0, 0]);
        let pads = self.node(
            "Concat",
            &[&begin, &end],
            "border.pads",
            vec![int("axis", 0)],
        );
        let padded = self.node(
            "Pad",
            &[x, &pads],
            "border.pad",
            vec![string("mode", "reflect")],
        );
        let crop: Crop = Box::new(move |g: &mut Builder, y: &str| {
            let ends = g.node("Add", &[&hw, &bb], "border.ends", vec![]);
            let axes = g.int64s("axes_hw", &[2, 3]);
            g.node("Slice", &[y, &bb, &ends, &axes], "border.crop", vec![])
        });
        (padded, crop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn border_pad_default_is_the_runtime_default() {
        assert_eq!(
            DEFAULT_BORDER_PAD_ARG,
            stylecast::stylize::DEFAULT_BORDER_PAD.to_string()
        );
    }
}
