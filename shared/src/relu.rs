//! ReLU whose CPU backward is one pass.
//!
//! candle differentiates `relu` as `grad * (x >= 0)`: a comparison, a dtype conversion and a
//! multiply, three full-size passes and tensors, which at training sizes cost about as much
//! as the forward convolution they follow. Here the CPU backward reads the output once
//! (`grad` where the output is positive, PyTorch's convention at zero). Other devices and
//! dtypes use candle's.

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, WithDType,
};

use rayon::prelude::*;

use crate::cpu_values::{read, storage_values};

/// `max(x, 0)`.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) && x.track_op() {
        x.contiguous()?.apply_op1(Relu)
    } else {
        x.relu()
    }
}

struct Relu;

fn relu_fwd<T: WithDType>(x: &[T]) -> Vec<T> {
    let zero = T::from_f64(0.0);
    x.par_iter()
        .map(|&v| if v > zero { v } else { zero })
        .collect()
}

fn relu_bwd<T: WithDType>(y: &[T], g: &[T]) -> Vec<T> {
    let zero = T::from_f64(0.0);
    y.par_iter()
        .zip(g)
        .map(|(&y, &g)| if y > zero { g } else { zero })
        .collect()
}

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let y = match s.dtype() {
            DType::F32 => CpuStorage::F32(relu_fwd::<f32>(storage_values(s, l)?)),
            DType::F64 => CpuStorage::F64(relu_fwd::<f64>(storage_values(s, l)?)),
            d => candle_core::bail!("relu: fused CPU path has no {d:?}"),
        };
        Ok((y, l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        fn run<T: WithDType>(y: &Tensor, g: &Tensor) -> Result<Tensor> {
            let dx = read(y, |yv: &[T]| read(g, |gv: &[T]| relu_bwd(yv, gv)))??;
            Tensor::from_vec(dx, y.shape(), y.device())
        }
        Ok(Some(match y.dtype() {
            DType::F32 => run::<f32>(y, g)?,
            _ => run::<f64>(y, g)?,
        }))
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
