//! VGG-16 feature extractor for the perceptual losses: relu1_2, relu2_2, relu3_3 and
//! relu4_3 for a batch (candle-transformers' VGG gives only logits for one image).
//!
//! Weights in torchvision's layout (`features.N.weight`/`.bias`), from safetensors or
//! a PyTorch `.pth`; only the ten convolutions up to relu4_3 are read, so a full
//! torchvision/timm file works as well as the truncated one in ../shared/weights.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor};
use serde::{Deserialize, Serialize};
use stylecast::ops::conv::{Conv2d, ConvParams};

use crate::hub::{self, HubError};

/// The four layers the losses can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum VggLayer {
    #[serde(rename = "relu1_2")]
    Relu1_2,
    #[serde(rename = "relu2_2")]
    Relu2_2,
    #[serde(rename = "relu3_3")]
    Relu3_3,
    #[serde(rename = "relu4_3")]
    Relu4_3,
}

impl VggLayer {
    pub const ALL: [VggLayer; 4] = [
        VggLayer::Relu1_2,
        VggLayer::Relu2_2,
        VggLayer::Relu3_3,
        VggLayer::Relu4_3,
    ];
    /// The names, as flags and metadata spell them.
    pub const NAMES: [&'static str; 4] = ["relu1_2", "relu2_2", "relu3_3", "relu4_3"];
    pub fn index(self) -> usize {
        self as usize
    }
    pub fn name(self) -> &'static str {
        Self::NAMES[self.index()]
    }
    /// The layer a name stands for, in any case (`relu3_3`, `RELU3_3`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(name))
    }
}

/// torchvision `features` indices of the convolutions in blocks 1-4.
const BLOCKS: [&[usize]; 4] = [&[0, 2], &[5, 7], &[10, 12, 14], &[17, 19, 21]];
/// Input channels of each conv, in order.
const CHANNELS: [(usize, usize); 10] = [
    (3, 64),
    (64, 64),
    (64, 128),
    (128, 128),
    (128, 256),
    (256, 256),
    (256, 256),
    (256, 512),
    (512, 512),
    (512, 512),
];

pub const IMAGENET_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f64; 3] = [0.229, 0.224, 0.225];

/// Environment variable naming the weights file when `--vgg` is not given.
pub const VGG_ENV: &str = "STYLECAST_VGG16";

#[derive(Debug, thiserror::Error)]
pub enum VggError {
    #[error(
        "no VGG-16 weights found (looked at: {tried}).\n\
         Give --vgg PATH, set {VGG_ENV}, or put the file at {default}.\n\
         Any torchvision-layout VGG-16 works: ../shared/weights/vgg16-features.safetensors, torchvision's \
         vgg16-397923af.pth, or model.safetensors of timm/vgg16.tv_in1k (--vgg hf downloads it in a build with the hf-hub feature)"
    )]
    NotFound { tried: String, default: String },
    #[error("{}: {reason}", path.display())]
    Bad { path: PathBuf, reason: String },
    #[error(transparent)]
    Hub(#[from] HubError),
}

/// Where the weights are: explicit path, then `$STYLECAST_VGG16`, then the defaults.
/// Either of the first two may be `hf` or `hf:OWNER/NAME` (the Hugging Face Hub, see
/// [`crate::hub`]).
pub fn resolve_weights(explicit: Option<&Path>) -> Result<PathBuf, VggError> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        if let Some(repo) = hub::hub_repo(p) {
            return Ok(hub::fetch(repo)?);
        }
        return Err(VggError::Bad {
            path: p.to_path_buf(),
            reason: "no such file (given with --vgg)".into(),
        });
    }
    if let Some(p) = std::env::var_os(VGG_ENV) {
        let p = PathBuf::from(p);
        if p.is_file() {
            return Ok(p);
        }
        if let Some(repo) = hub::hub_repo(&p) {
            return Ok(hub::fetch(repo)?);
        }
        return Err(VggError::Bad {
            path: p,
            reason: format!("no such file (from ${VGG_ENV})"),
        });
    }
    let candidates = default_locations();
    for c in &candidates {
        if c.is_file() {
            return Ok(c.clone());
        }
    }
    Err(VggError::NotFound {
        tried: candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        default: candidates[0].display().to_string(),
    })
}

/// Default places, in order: the user's data dir, then the shared folder beside a checkout.
pub fn default_locations() -> Vec<PathBuf> {
    let mut v = Vec::new();
    let data_home = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    if let Some(d) = data_home {
        v.push(d.join("stylecast").join("vgg16-features.safetensors"));
    }
    v.push(PathBuf::from(
        "../shared/weights/vgg16-features.safetensors",
    ));
    v
}

/// The frozen loss network.
pub struct Vgg16 {
    blocks: Vec<Vec<Conv2d>>,
    mean: Tensor,
    inv_std: Tensor,
}

impl Vgg16 {
    /// Loads the ten convolutions from safetensors or `.pth` onto `device`, in f32.
    pub fn load(path: &Path, device: &Device) -> Result<Self, VggError> {
        Self::load_as(path, device, DType::F32)
    }

    /// As [`Vgg16::load`], in `dtype` (f64 for float64 conformance checks).
    pub fn load_as(path: &Path, device: &Device, dtype: DType) -> Result<Self, VggError> {
        let bad = |reason: String| VggError::Bad {
            path: path.to_path_buf(),
            reason,
        };
        let names: Vec<String> = BLOCKS
            .iter()
            .flat_map(|b| b.iter())
            .flat_map(|i| [format!("features.{i}.weight"), format!("features.{i}.bias")])
            .collect();
        let mut tensors: HashMap<String, Tensor> = HashMap::new();
        let is_pth = path
            .extension()
            .is_some_and(|e| e == "pth" || e == "pt" || e == "bin");
        if is_pth {
            let pth = candle_core::pickle::PthTensors::new(path, None)
                .map_err(|e| bad(format!("not a PyTorch file ({e})")))?;
            for n in &names {
                if let Some(t) = pth.get(n).map_err(|e| bad(format!("{n}: {e}")))? {
                    tensors.insert(n.clone(), t);
                }
            }
        } else {
            // Memory-map and take only the tensors we need: a full VGG-16 is 528 MB.
            let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(path) }
                .map_err(|e| bad(format!("not a safetensors file or truncated ({e})")))?;
            for n in &names {
                if let Ok(t) = st.load(n, &Device::Cpu) {
                    tensors.insert(n.clone(), t);
                }
            }
        }
        let mut convs = Vec::new();
        for (k, i) in BLOCKS.iter().flat_map(|b| b.iter()).enumerate() {
            let (cin, cout) = CHANNELS[k];
            let get = |suffix: &str, shape: &[usize]| -> Result<Tensor, VggError> {
                let n = format!("features.{i}.{suffix}");
                let t = tensors.get(&n).ok_or_else(|| {
                    bad(format!(
                        "missing tensor {n}: not a torchvision-layout VGG-16"
                    ))
                })?;
                if t.dims() != shape {
                    return Err(bad(format!(
                        "tensor {n} has shape {:?}, expected {:?}",
                        t.dims(),
                        shape
                    )));
                }
                t.to_dtype(dtype)
                    .and_then(|t| t.to_device(device))
                    .map_err(|e| bad(e.to_string()))
            };
            let w = get("weight", &[cout, cin, 3, 3])?;
            let b = get("bias", &[cout])?;
            // Frozen: the loss network is never trained, so no kernel gradients.
            convs.push(Conv2d::new(
                w,
                Some(b),
                ConvParams {
                    stride: 1,
                    padding: 1,
                },
                true,
            ));
        }
        let mut it = convs.into_iter();
        let blocks = BLOCKS
            .iter()
            .map(|b| it.by_ref().take(b.len()).collect())
            .collect();
        let mean = Tensor::from_slice(&IMAGENET_MEAN.map(|m| m * 255.0), (1, 3, 1, 1), device)
            .and_then(|t| t.to_dtype(dtype))
            .map_err(|e| bad(e.to_string()))?;
        let inv_std = Tensor::from_slice(
            &IMAGENET_STD.map(|s| 1.0 / (255.0 * s)),
            (1, 3, 1, 1),
            device,
        )
        .and_then(|t| t.to_dtype(dtype))
        .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            blocks,
            mean,
            inv_std,
        })
    }

    /// Features after relu1_2 .. relu4_3 for an NCHW batch in [0, 255], up to `last`.
    pub fn features(&self, x: &Tensor, last: VggLayer) -> candle_core::Result<Vec<Tensor>> {
        // (x / 255 - mean) / std, with the 255 folded into mean and std.
        let mut h = x.broadcast_sub(&self.mean)?.broadcast_mul(&self.inv_std)?;
        let mut out = Vec::with_capacity(4);
        for (b, convs) in self.blocks.iter().enumerate().take(last.index() + 1) {
            if b > 0 {
                h = stylecast::ops::pool::max_pool2x2(&h)?;
            }
            for conv in convs {
                h = stylecast::ops::relu::relu(&conv.forward(&h)?)?;
            }
            out.push(h.clone());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "hf-hub"))]
    #[test]
    fn vgg_hf_goes_to_the_hub() {
        let e = resolve_weights(Some(Path::new("hf")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("Hugging Face Hub (timm/vgg16.tv_in1k)"), "{e}");
    }

    #[test]
    fn layer_names_read_back() {
        for l in VggLayer::ALL {
            assert_eq!(VggLayer::from_name(l.name()), Some(l));
            assert_eq!(VggLayer::from_name(&l.name().to_uppercase()), Some(l));
        }
        assert_eq!(VggLayer::from_name("relu5_3"), None);
    }
}
