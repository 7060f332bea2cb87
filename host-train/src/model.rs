//! The trainable transformer: a VarMap of named parameters and the network over it.

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use stylecast::{NetConfig, TransformerNet};

pub struct Trainable {
    pub varmap: VarMap,
    pub net: TransformerNet,
}

impl Trainable {
    /// Fresh weights, initialised as PyTorch's `Conv2d` and `InstanceNorm2d(affine)` do
    /// (weights and biases uniform in ±1/sqrt(fan_in); norm scale 1, shift 0), drawn
    /// from our own seeded generator so every device starts from identical weights.
    pub fn new(config: &NetConfig, device: &Device, seed: u64) -> Result<Self> {
        Self::with_dtype(config, device, seed, DType::F32)
    }

    /// As [`Trainable::new`], with parameters of `dtype` (f32 for training; f64 checks the
    /// mathematics against float64 references without f32 rounding).
    pub fn with_dtype(
        config: &NetConfig,
        device: &Device,
        seed: u64,
        dtype: DType,
    ) -> Result<Self> {
        use rand::{Rng, SeedableRng};
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, dtype, device);
        let net = TransformerNet::with_stat_dtype(vb, config, DType::F64)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut init = HashMap::new();
        for (name, shape) in config.param_shapes() {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = if name.contains(".conv2d.") {
                // fan_in of the conv this belongs to: in_channels * k * k.
                let w_shape = &config
                    .param_shapes()
                    .into_iter()
                    .find(|(k, _)| *k == name.replace(".bias", ".weight"))
                    .expect("weight")
                    .1;
                let bound = 1.0 / ((w_shape[1] * w_shape[2] * w_shape[3]) as f32).sqrt();
                (0..n).map(|_| rng.gen_range(-bound..bound)).collect()
            } else if name.ends_with(".weight") {
                vec![1.0; n]
            } else {
                vec![0.0; n]
            };
            init.insert(name, Tensor::from_vec(values, shape, &Device::Cpu)?);
        }
        let this = Self { varmap, net };
        this.load_weights(&init)?;
        Ok(this)
    }

    /// Overwrites parameters from named tensors; every parameter must be present.
    pub fn load_weights(&self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        let data = self.varmap.data().lock().expect("varmap lock");
        for (name, var) in data.iter() {
            let t = tensors
                .get(name)
                .ok_or_else(|| candle_core::Error::Msg(format!("missing parameter {name}")))?;
            var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
        }
        Ok(())
    }

    /// Parameters by name, sorted.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().expect("varmap lock");
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// A snapshot of the weights as plain tensors (for saving and exporting).
    pub fn weights(&self) -> HashMap<String, Tensor> {
        self.named_vars()
            .into_iter()
            .map(|(k, v)| (k, v.as_tensor().detach()))
            .collect()
    }
}
