//! ReLU whose CPU backward is one pass.
//!
//! candle differentiates `relu` as `grad * (x >= 0)`: a comparison, a dtype conversion and a
//! multiply, three full-size passes and tensors, which at training sizes cost about as much
//! as the forward convolution they follow. Here the CPU backward reads the output once
//! (`grad` where the output is positive, PyTorch's convention at zero). Other devices and
//! dtypes use candle's.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::ops::cpu_values::{has_kernel, run_on_storage, run_on_tensors, Kernel};

/// `max(x, 0)`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if has_kernel(x) && x.track_op() {
        x.contiguous()?.apply_op1(Relu)
    } else {
        x.relu()
    }
}

struct Relu;

impl Kernel for Relu {
    fn run<T: WithDType>(&self, inputs: &[&[T]]) -> Vec<T> {
        let zero = T::from_f64(0.0);
        inputs[0]
            .par_iter()
            .map(|&v| if v > zero { v } else { zero })
            .collect()
    }
}

/// The gradient from the output `y` and its gradient `g`: `g` where `y > 0`.
struct ReluGrad;

impl Kernel for ReluGrad {
    fn run<T: WithDType>(&self, inputs: &[&[T]]) -> Vec<T> {
        let zero = T::from_f64(0.0);
        let (y, g) = (inputs[0], inputs[1]);
        y.par_iter()
            .zip(g)
            .map(|(&y, &g)| if y > zero { g } else { zero })
            .collect()
    }
}

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        Ok((run_on_storage(self, s, l)?, l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        run_on_tensors(&ReluGrad, &[y, g], y.shape()).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Forward as candle's, backward as PyTorch's (zero gradient where the input is 0).
    #[test]
    fn relu_and_its_gradient() -> Result<()> {
        let x = Var::new(&[-2f32, -0.5, 0.0, 0.25, 3.0], &Device::Cpu)?;
        let y = relu(x.as_tensor())?;
        assert_eq!(y.to_vec1::<f32>()?, vec![0.0, 0.0, 0.0, 0.25, 3.0]);
        let w = Tensor::new(&[1f32, 2.0, 3.0, 4.0, 5.0], &Device::Cpu)?;
        let g = (y * w)?.sum_all()?.backward()?;
        let gx = g.get(x.as_tensor()).expect("gradient").to_vec1::<f32>()?;
        assert_eq!(gx, vec![0.0, 0.0, 0.0, 4.0, 5.0]);
        Ok(())
    }
}
