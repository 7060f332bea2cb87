//! The model file: safetensors holding the network's parameters (f32 or f16) plus
//! metadata (format and version, network config, style name, dtype, training facts).
//!
//! Loading validates everything a user could get wrong (format, names, shapes, finite
//! values) and names the file in every error.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::net::config::NetConfig;

pub const FORMAT_NAME: &str = "stylecast-transformer";
/// The newest version this build reads and writes. Version 2 added several styles in one
/// file (`config.styles` > 1, their names under `styles`); single-style files are still
/// written as version 1, so older builds keep reading them.
pub const FORMAT_VERSION: u32 = 2;
/// Longest style name a file may give.
const MAX_STYLE_NAME: usize = 200;
/// Largest model file we read. The paper's network is 6.7 MB in f32; this leaves room for
/// much wider ones and still refuses a wrong file (a disk image, `/dev/zero`) before reading.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;

/// What a model file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub config: NetConfig,
    /// Human-readable style name, e.g. "starry_night"; for a multi-style file, the name of
    /// the collection (its styles are in `style_names`).
    pub style: String,
    /// The styles' names, in the network's order, when it holds more than one
    /// (`config.styles` of them); empty for a single-style model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub style_names: Vec<String>,
    /// How it was trained, where known (steps, loss weights, final losses, style hash...).
    pub training: Option<serde_json::Value>,
}

impl ModelMeta {
    pub fn new(style: impl Into<String>, config: NetConfig) -> Self {
        Self {
            config,
            style: style.into(),
            style_names: Vec::new(),
            training: None,
        }
    }

    /// A multi-style model's metadata: the collection's name and one name per style.
    pub fn with_styles(style: impl Into<String>, config: NetConfig, names: Vec<String>) -> Self {
        let mut m = Self::new(style, config.with_styles(names.len().max(1)));
        if names.len() > 1 {
            m.style_names = names;
        }
        m
    }

    /// The name of every style the network holds: `[style]` for a single-style model.
    pub fn names(&self) -> Vec<String> {
        if self.config.styles <= 1 {
            vec![self.style.clone()]
        } else if self.style_names.len() == self.config.styles {
            self.style_names.clone()
        } else {
            default_style_names(self.config.styles)
        }
    }

    /// File names the style's painting may have: the one its training recorded
    /// (`training.style_image`), then `<style>.jpg|.jpeg|.png|.webp`.
    pub fn painting_names(&self) -> Vec<String> {
        let recorded = self
            .training
            .as_ref()
            .and_then(|t| t.get("style_image"))
            .and_then(|v| v.as_str())
            .map(String::from);
        recorded
            .into_iter()
            .chain(
                crate::io::image::IMAGE_EXTENSIONS
                    .iter()
                    .map(|e| format!("{}.{e}", self.style)),
            )
            .collect()
    }

    /// The first of [`ModelMeta::painting_names`] that is an image file in `dir`.
    pub fn find_painting(&self, dir: &Path) -> Option<PathBuf> {
        self.painting_names()
            .into_iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file() && crate::io::image::is_image_path(p))
    }
}

/// The `.safetensors` files in `dir` (not below), sorted; possibly none.
pub fn models_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    v.sort();
    Ok(v)
}

/// Model files named directly, or every one in the named folders, in the order given;
/// a folder without models is an error.
pub fn expand_model_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let found = models_in(p)?;
            if found.is_empty() {
                return Err(Error::NoModels { dir: p.clone() });
            }
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// A model in memory: metadata plus named parameter tensors.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub meta: ModelMeta,
    pub tensors: HashMap<String, Tensor>,
}

fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::F32 => "f32",
        DType::F64 => "f64",
        _ => "other",
    }
}

impl ModelFile {
    /// The dtype its tensors are stored in (that of `conv1.conv2d.weight`).
    pub fn dtype(&self) -> DType {
        self.tensors
            .get("conv1.conv2d.weight")
            .map(|t| t.dtype())
            .unwrap_or(DType::F32)
    }

    /// Loads and validates a model file. Tensors keep the stored dtype, on `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let bytes = crate::io::regular_file::read_regular(path, MAX_MODEL_BYTES, "a model")?;
        Self::from_bytes(&bytes, path, device)
    }

    pub fn from_bytes(bytes: &[u8], path: &Path, device: &Device) -> Result<Self> {
        if bytes.is_empty() {
            return Err(Error::model(path, "the file is empty"));
        }
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| {
            Error::model(path, format!("not a safetensors file or truncated ({e})"))
        })?;
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| {
            Error::model(path, format!("not a safetensors file or truncated ({e})"))
        })?;
        let views: Vec<_> = st
            .tensors()
            .into_iter()
            .filter(|(name, _)| !is_ignored_buffer(name))
            .collect();
        // The header's names and shapes against the config first, the config bounded:
        // nothing is built for a file that declares another network than it holds.
        let shapes: Shapes = views.iter().map(|(n, v)| (n.as_str(), v.shape())).collect();
        let meta_map = header.metadata().clone().unwrap_or_default();
        let meta = parse_meta(&meta_map, &shapes, path)?;
        check_shapes(&shapes, &meta.config, path)?;
        let mut tensors = HashMap::new();
        for (name, view) in &views {
            let dtype = match view.dtype() {
                safetensors::Dtype::F32 => DType::F32,
                safetensors::Dtype::F16 => DType::F16,
                safetensors::Dtype::BF16 => DType::BF16,
                other => {
                    return Err(Error::model(
                        path,
                        format!("tensor {name} has dtype {other:?}; expected F32 or F16"),
                    ))
                }
            };
            let t = Tensor::from_raw_buffer(view.data(), dtype, view.shape(), &Device::Cpu)
                .map_err(|e| Error::model(path, format!("tensor {name}: {e}")))?;
            tensors.insert(name.clone(), t);
        }
        check_finite(&tensors, path)?;
        let tensors = tensors
            .into_iter()
            .map(|(k, v)| Ok((k, v.to_device(device)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        Ok(Self { meta, tensors })
    }

    /// Imports a PyTorch state dict saved by pytorch/examples `fast_neural_style`
    /// (`torch.save(model.state_dict())`, zip format). The `running_mean`/`running_var`
    /// buffers that older published models carry are dropped: instance norm ignores them.
    pub fn import_pth(path: &Path, style: &str) -> Result<Self> {
        if !path.exists() {
            return Err(Error::io(
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            ));
        }
        let all = candle_core::pickle::read_all(path)
            .map_err(|e| Error::model(path, format!("not a PyTorch state dict ({e})")))?;
        let tensors: HashMap<String, Tensor> = all
            .into_iter()
            .filter(|(k, _)| !is_ignored_buffer(k))
            .map(|(k, v)| Ok((k, v.to_dtype(DType::F32)?)))
            .collect::<Result<_>>()?;
        let config = infer_config(&tensors, path)?;
        validate(&tensors, &config, path)?;
        Ok(Self {
            meta: ModelMeta::new(style, config),
            tensors,
        })
    }

    /// A copy with every tensor cast to `dtype`.
    pub fn to_dtype(&self, dtype: DType) -> Result<Self> {
        let tensors = self
            .tensors
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.to_dtype(dtype)?)))
            .collect::<Result<_>>()?;
        Ok(Self {
            meta: self.meta.clone(),
            tensors,
        })
    }

    /// The names of its styles (see [`ModelMeta::names`]).
    pub fn names(&self) -> Vec<String> {
        self.meta.names()
    }

    /// A single-style model painting `mix` of this one's styles: every instance norm's
    /// scale and shift mixed (in f32, stored back in the file's dtype), the convolutions
    /// copied as they are. Named after the mix (`starry_night`, or `a:0.60,b:0.40`).
    pub fn resolve_style(&self, mix: &crate::net::style_mix::StyleMix) -> Result<Self> {
        let styles = self.meta.config.styles;
        if mix.styles() != styles {
            return Err(Error::Invalid(format!(
                "a mix of {} styles for a model of {styles}",
                mix.styles()
            )));
        }
        let names = self.names();
        if styles == 1 {
            return Ok(self.clone());
        }
        let m = Tensor::new(mix.weights(), &Device::Cpu)?.unsqueeze(0)?;
        let tensors = self
            .tensors
            .iter()
            .map(|(k, t)| {
                if t.rank() != 2 {
                    return Ok((k.clone(), t.clone()));
                }
                let rows = t.to_device(&Device::Cpu)?.to_dtype(DType::F32)?;
                let mixed = m.matmul(&rows)?.squeeze(0)?.to_dtype(t.dtype())?;
                Ok((k.clone(), mixed.to_device(t.device())?))
            })
            .collect::<Result<_>>()?;
        let mut meta = ModelMeta::new(mix.label(&names), self.meta.config.with_styles(1));
        meta.training = self.meta.training.clone();
        Ok(Self { meta, tensors })
    }

    /// Serialises to safetensors bytes in the tensors' current dtype.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut md = HashMap::new();
        md.insert("format".to_string(), FORMAT_NAME.to_string());
        let multi = self.meta.config.styles > 1;
        let version = if multi { FORMAT_VERSION } else { 1 };
        md.insert("format_version".to_string(), version.to_string());
        if multi {
            md.insert(
                "styles".to_string(),
                serde_json::to_string(&self.meta.names()).expect("names serialise"),
            );
        }
        md.insert(
            "config".to_string(),
            serde_json::to_string(&self.meta.config).expect("config serialises"),
        );
        md.insert("style".to_string(), self.meta.style.clone());
        md.insert("dtype".to_string(), dtype_name(self.dtype()).to_string());
        if let Some(t) = &self.meta.training {
            md.insert("training".to_string(), t.to_string());
        }
        serialize_tensors(&self.tensors, md)
    }

    /// Writes atomically, so a crash never leaves a half-written model behind.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::atomic::atomic_write(path, &self.to_bytes()?)
    }
}

/// Serialises named tensors (f32 or f16, any device) plus string metadata to safetensors,
/// in name order, through candle's `safetensors::View` for its tensors.
pub fn serialize_tensors(
    tensors: &HashMap<String, Tensor>,
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let sorted: BTreeMap<&String, &Tensor> = tensors.iter().collect();
    let views: Vec<(&String, Tensor)> = sorted
        .into_iter()
        .map(|(k, t)| match t.dtype() {
            DType::F32 | DType::F16 => Ok((k, t.to_device(&Device::Cpu)?)),
            d => Err(Error::Invalid(format!(
                "cannot save dtype {d:?}: use f32 or f16"
            ))),
        })
        .collect::<Result<_>>()?;
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::Invalid(format!("cannot serialise tensors: {e}")))
}

/// Buffers that instance norm never reads; pytorch/examples' published models carry them.
fn is_ignored_buffer(name: &str) -> bool {
    name.ends_with(".running_mean")
        || name.ends_with(".running_var")
        || name.ends_with(".num_batches_tracked")
}

fn parse_meta(md: &HashMap<String, String>, shapes: &Shapes, path: &Path) -> Result<ModelMeta> {
    if let Some(fmt) = md.get("format") {
        if fmt != FORMAT_NAME {
            return Err(Error::model(
                path,
                format!("format is {fmt:?}, expected {FORMAT_NAME:?}"),
            ));
        }
        let version: u32 = md
            .get("format_version")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::model(path, "metadata lacks a numeric format_version"))?;
        if version > FORMAT_VERSION {
            return Err(Error::model(
                path,
                format!("format version {version} is newer than this build understands ({FORMAT_VERSION}); update stylecast"),
            ));
        }
    }
    // A bare state dict (e.g. exported from PyTorch with safetensors) has no metadata:
    // infer the config from the shapes and name the style after the file.
    let config = match md.get("config") {
        Some(c) => serde_json::from_str(c)
            .map_err(|e| Error::model(path, format!("bad config metadata: {e}")))?,
        None => infer_config_from(shapes, path)?,
    };
    let style = md.get("style").cloned().unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "unnamed".into())
    });
    let training = match md.get("training") {
        Some(t) => Some(
            serde_json::from_str(t)
                .map_err(|e| Error::model(path, format!("bad training metadata: {e}")))?,
        ),
        None => None,
    };
    let style_names = parse_style_names(md.get("styles"), &config, path)?;
    Ok(ModelMeta {
        config,
        style,
        style_names,
        training,
    })
}

/// `style_0`, `style_1`, ... for a multi-style file that does not name its styles.
fn default_style_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("style_{i}")).collect()
}

/// The `styles` metadata of a multi-style file: one distinct, non-empty name per style,
/// none with the `,` or `:` that blends (`a:0.6,b:0.4`) use.
fn parse_style_names(
    stored: Option<&String>,
    config: &NetConfig,
    path: &Path,
) -> Result<Vec<String>> {
    if config.styles <= 1 {
        return Ok(Vec::new());
    }
    let Some(stored) = stored else {
        return Ok(default_style_names(config.styles));
    };
    let names: Vec<String> = serde_json::from_str(stored).map_err(|e| {
        Error::model(
            path,
            format!("bad styles metadata (expected a list of names): {e}"),
        )
    })?;
    if names.len() != config.styles {
        return Err(Error::model(
            path,
            format!(
                "the styles metadata names {} styles, the network holds {}",
                names.len(),
                config.styles
            ),
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for n in &names {
        if n.trim().is_empty() || n.len() > MAX_STYLE_NAME || n.contains([',', ':']) {
            return Err(Error::model(
                path,
                format!("style name {n:?} is not allowed (1 to {MAX_STYLE_NAME} characters, no ',' or ':')"),
            ));
        }
        if !seen.insert(n.as_str()) {
            return Err(Error::model(
                path,
                format!("style name {n:?} appears twice"),
            ));
        }
    }
    Ok(names)
}

/// Tensor names and shapes, from a file's header or from tensors.
type Shapes<'a> = HashMap<&'a str, &'a [usize]>;

fn shapes_of(tensors: &HashMap<String, Tensor>) -> Shapes<'_> {
    tensors
        .iter()
        .map(|(k, t)| (k.as_str(), t.dims()))
        .collect()
}

/// Reads the network's widths and depth off the parameter shapes.
pub fn infer_config(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<NetConfig> {
    infer_config_from(&shapes_of(tensors), path)
}

fn infer_config_from(shapes: &Shapes, path: &Path) -> Result<NetConfig> {
    let out_channels = |name: &str| -> Result<usize> {
        let dims = shapes
            .get(name)
            .ok_or_else(|| Error::model(path, format!("missing tensor {name}")))?;
        Ok(dims.first().copied().unwrap_or(0))
    };
    let channels = [
        out_channels("conv1.conv2d.weight")?,
        out_channels("conv2.conv2d.weight")?,
        out_channels("conv3.conv2d.weight")?,
    ];
    let mut residual_blocks = 0;
    while shapes.contains_key(format!("res{}.conv1.conv2d.weight", residual_blocks + 1).as_str()) {
        residual_blocks += 1;
    }
    // A style bank stores each norm as [styles, channels].
    let styles = match shapes.get("in1.weight") {
        Some([s, _]) => *s,
        _ => 1,
    };
    let config = NetConfig {
        channels,
        residual_blocks,
        styles,
    };
    config
        .check()
        .map_err(|e| Error::model(path, format!("network out of bounds: {e}")))?;
    Ok(config)
}

/// Checks names, shapes and finiteness against what `config` requires (its bounds first).
pub fn validate(tensors: &HashMap<String, Tensor>, config: &NetConfig, path: &Path) -> Result<()> {
    check_shapes(&shapes_of(tensors), config, path)?;
    check_finite(tensors, path)
}

/// The config within its bounds, and exactly its parameters, each of its shape.
fn check_shapes(shapes: &Shapes, config: &NetConfig, path: &Path) -> Result<()> {
    config
        .check()
        .map_err(|e| Error::model(path, format!("network out of bounds: {e}")))?;
    let expected = config.param_shapes();
    for (name, shape) in &expected {
        let dims = shapes
            .get(name.as_str())
            .ok_or_else(|| Error::model(path, format!("missing tensor {name}")))?;
        if *dims != shape.as_slice() {
            return Err(Error::model(
                path,
                format!("tensor {name} has shape {dims:?}, expected {shape:?}"),
            ));
        }
    }
    let known: std::collections::HashSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    let mut unknown: Vec<&&str> = shapes.keys().filter(|k| !known.contains(**k)).collect();
    if !unknown.is_empty() {
        unknown.sort();
        return Err(Error::model(
            path,
            format!("unexpected tensors {unknown:?}"),
        ));
    }
    Ok(())
}

/// Every value finite: a NaN or infinity in one weight spreads to every pixel.
pub fn check_finite(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    for name in names {
        let values = tensors[name]
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::model(
                path,
                format!(
                    "tensor {name} holds a non-finite value ({}) at index {i}",
                    values[i]
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn solid() -> image::RgbImage {
        image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]))
    }

    /// A tiny network's file whose metadata says `config` (JSON), its tensors zeros.
    fn file_declaring(config: &str) -> Vec<u8> {
        let net = NetConfig {
            channels: [2, 2, 2],
            residual_blocks: 1,
            styles: 1,
        };
        let tensors = net
            .param_shapes()
            .into_iter()
            .map(|(n, s)| (n, Tensor::zeros(s, DType::F32, &Device::Cpu).unwrap()))
            .collect();
        let md = HashMap::from([
            ("format".to_string(), FORMAT_NAME.to_string()),
            ("format_version".to_string(), "1".to_string()),
            ("config".to_string(), config.to_string()),
        ]);
        serialize_tensors(&tensors, md).unwrap()
    }

    #[test]
    fn a_declared_network_is_bounded_and_must_match_the_tensors() {
        let load = |config: &str| {
            ModelFile::from_bytes(
                &file_declaring(config),
                Path::new("m.safetensors"),
                &Device::Cpu,
            )
        };
        load(r#"{"channels":[2,2,2],"residual_blocks":1}"#).unwrap();
        // Before the bound, this built 800 million (name, shape) pairs: 14.7 GB.
        let e = load(r#"{"channels":[2,2,2],"residual_blocks":100000000}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("m.safetensors") && e.contains("residual_blocks is 100000000"),
            "{e}"
        );
        let e = load(r#"{"channels":[2,2,2],"residual_blocks":3}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing tensor res2.conv1.conv2d.weight"), "{e}");
        let e = load(r#"{"channels":[2,4,2],"residual_blocks":1}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tensor conv2.conv2d.weight has shape [2, 2, 3, 3]"),
            "{e}"
        );
        // The checks hold for a bare config handed to `validate` too (checkpoints).
        let huge = NetConfig {
            channels: [2, 2, 2],
            residual_blocks: usize::MAX,
            styles: 1,
        };
        let e = validate(&HashMap::new(), &huge, Path::new("c.safetensors")).unwrap_err();
        assert!(e.to_string().contains("residual_blocks"), "{e}");
    }

    #[test]
    fn paintings_are_found_by_the_metadata_name_then_the_style_name() {
        let dir = tempfile::tempdir().unwrap();
        solid().save(dir.path().join("wave.png")).unwrap();
        solid().save(dir.path().join("scream.jpg")).unwrap();
        let mut meta = ModelMeta::new("the_wave", Default::default());
        meta.training = Some(serde_json::json!({ "style_image": "wave.png" }));
        assert_eq!(
            meta.find_painting(dir.path()),
            Some(dir.path().join("wave.png"))
        );
        let meta = ModelMeta::new("scream", Default::default());
        assert_eq!(
            meta.find_painting(dir.path()),
            Some(dir.path().join("scream.jpg"))
        );
        let meta = ModelMeta::new("candy", Default::default());
        assert_eq!(meta.find_painting(dir.path()), None);
    }

    /// A small network of `styles` styles with random weights (the norms' scales around 1
    /// and different per style, so that the styles paint differently).
    pub(crate) fn random_model(styles: usize, names: Vec<String>) -> ModelFile {
        let config = NetConfig {
            channels: [4, 6, 8],
            residual_blocks: 1,
            styles,
        };
        let tensors = config
            .param_shapes()
            .into_iter()
            .map(|(n, s)| {
                let t = Tensor::randn(0f32, 0.5, s, &Device::Cpu).unwrap();
                let t = if n.ends_with("weight") && t.rank() <= 2 {
                    (t + 1.0).unwrap()
                } else {
                    t
                };
                (n, t)
            })
            .collect();
        ModelFile {
            meta: ModelMeta::with_styles("collection", config, names),
            tensors,
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_multi_style_file_round_trips_and_one_style_files_stay_version_1() {
        let path = Path::new("multi.safetensors");
        let m = random_model(3, names(&["a", "b", "c"]));
        for dtype in [DType::F32, DType::F16] {
            let m = m.to_dtype(dtype).unwrap();
            let bytes = m.to_bytes().unwrap();
            let back = ModelFile::from_bytes(&bytes, path, &Device::Cpu).unwrap();
            assert_eq!(back.meta, m.meta);
            assert_eq!(back.names(), names(&["a", "b", "c"]));
            assert_eq!(back.tensors["in1.weight"].dims(), &[3, 4]);
            for (k, t) in &m.tensors {
                let diff = (t.to_dtype(DType::F32).unwrap()
                    - back.tensors[k].to_dtype(DType::F32).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
                assert_eq!(diff, 0.0, "{k}");
            }
            let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
            let md = header.metadata().clone().unwrap();
            assert_eq!(md["format_version"], "2");
            assert_eq!(md["styles"], r#"["a","b","c"]"#);
        }
        // One style: version 1, the pytorch/examples names and shapes, no `styles` anywhere.
        let one = random_model(1, vec![]);
        let bytes = one.to_bytes().unwrap();
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let md = header.metadata().clone().unwrap();
        assert_eq!(md["format_version"], "1");
        assert!(
            !md.contains_key("styles") && !md["config"].contains("styles"),
            "{md:?}"
        );
        let back = ModelFile::from_bytes(&bytes, path, &Device::Cpu).unwrap();
        assert_eq!(back.tensors["in1.weight"].dims(), &[4]);
        assert_eq!(back.names(), names(&["collection"]));
        // A bare state dict with [S, C] norms reads as S styles, named by index.
        let bare = serialize_tensors(&m.tensors, HashMap::new()).unwrap();
        let back = ModelFile::from_bytes(&bare, path, &Device::Cpu).unwrap();
        assert_eq!(back.meta.config.styles, 3);
        assert_eq!(back.names(), names(&["style_0", "style_1", "style_2"]));
    }

    #[test]
    fn bad_style_names_are_refused_with_the_file_named() {
        let m = random_model(2, names(&["a", "b"]));
        let with_styles = |styles: &str| {
            let mut md: HashMap<String, String> = HashMap::from([
                ("format".into(), FORMAT_NAME.into()),
                ("format_version".into(), "2".into()),
                (
                    "config".into(),
                    serde_json::to_string(&m.meta.config).unwrap(),
                ),
            ]);
            md.insert("styles".into(), styles.into());
            let bytes = serialize_tensors(&m.tensors, md).unwrap();
            ModelFile::from_bytes(&bytes, Path::new("m.safetensors"), &Device::Cpu)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        for (styles, want) in [
            (r#"["a"]"#, "names 1 styles, the network holds 2"),
            (r#"["a","a"]"#, "\"a\" appears twice"),
            (r#"["a","b:c"]"#, "\"b:c\" is not allowed"),
            (r#"["a",""]"#, "\"\" is not allowed"),
            (r#"{"a":1}"#, "bad styles metadata"),
        ] {
            let e = with_styles(styles);
            assert!(
                e.contains("m.safetensors") && e.contains(want),
                "{styles}: {e}"
            );
        }
        let mut newer = m.clone();
        newer.meta.config.styles = 2;
        let mut md = HashMap::from([
            ("format".to_string(), FORMAT_NAME.to_string()),
            ("format_version".to_string(), "3".to_string()),
        ]);
        md.insert(
            "config".into(),
            serde_json::to_string(&m.meta.config).unwrap(),
        );
        let bytes = serialize_tensors(&m.tensors, md).unwrap();
        let e =
            ModelFile::from_bytes(&bytes, Path::new("m.safetensors"), &Device::Cpu).unwrap_err();
        assert!(e.to_string().contains("format version 3 is newer"), "{e}");
    }
}
