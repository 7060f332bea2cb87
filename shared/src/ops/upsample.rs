//! Nearest-neighbour x2 upsampling.
//!
//! candle's `upsample_nearest2d` has a slow backward that also overwrites gradients.
//! On the CPU (f32, f64) this is one copy forward and one 2x2 sum backward; elsewhere it is
//! a broadcast and reshape, whose backward is an exact sum (on the CPU a slow strided
//! reduction).

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::ops::cpu_values::{has_kernel, run_on_storage, run_on_tensors, zeros, Kernel};

pub fn upsample_nearest2x(x: &Tensor) -> Result<Tensor> {
    if has_kernel(x) {
        return x.contiguous()?.apply_op1(Upsample2x { w: x.dim(3)? });
    }
    let (n, c, h, w) = x.dims4()?;
    x.reshape((n, c, h, 1, w, 1))?
        .broadcast_as((n, c, h, 2, w, 2))?
        .contiguous()?
        .reshape((n, c, 2 * h, 2 * w))
}

/// The CPU op on planes `w` wide.
struct Upsample2x {
    w: usize,
}

/// Its backward: each input pixel gets the sum of its 2x2 block's gradient.
struct Upsample2xGrad {
    w: usize,
}

impl Kernel for Upsample2x {
    fn run<T: WithDType>(&self, inputs: &[&[T]]) -> Vec<T> {
        let (x, w) = (inputs[0], self.w);
        let mut y = zeros(x.len() * 4);
        y.par_chunks_mut(4 * w)
            .zip(x.par_chunks(w))
            .for_each(|(rows, src)| {
                let (top, bottom) = rows.split_at_mut(2 * w);
                for (pair, &v) in top.chunks_exact_mut(2).zip(src) {
                    pair.fill(v);
                }
                bottom.copy_from_slice(top);
            });
        y
    }
}

impl Kernel for Upsample2xGrad {
    fn run<T: WithDType>(&self, inputs: &[&[T]]) -> Vec<T> {
        let (g, w) = (inputs[0], self.w);
        let mut dx = zeros(g.len() / 4);
        dx.par_chunks_mut(w)
            .zip(g.par_chunks(4 * w))
            .for_each(|(d, rows)| {
                let (top, bottom) = rows.split_at(2 * w);
                for (j, v) in d.iter_mut().enumerate() {
                    *v = top[2 * j] + top[2 * j + 1] + bottom[2 * j] + bottom[2 * j + 1];
                }
            });
        dx
    }
}

impl CustomOp1 for Upsample2x {
    fn name(&self) -> &'static str {
        "upsample-nearest2x"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        Ok((
            run_on_storage(self, s, l)?,
            Shape::from((n, c, 2 * h, 2 * w)),
        ))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        run_on_tensors(&Upsample2xGrad { w: self.w }, &[g], x.shape()).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_upsample_nearest2d() -> Result<()> {
        let x = Tensor::arange(0f32, 24., &Device::Cpu)?.reshape((1, 2, 3, 4))?;
        let a = upsample_nearest2x(&x)?;
        let b = x.upsample_nearest2d(6, 8)?;
        assert_eq!(
            a.flatten_all()?.to_vec1::<f32>()?,
            b.flatten_all()?.to_vec1::<f32>()?
        );
        Ok(())
    }

    /// The CPU op's gradient: each input pixel gets the sum of its 2x2 block's.
    #[test]
    fn gradient_sums_each_block() -> Result<()> {
        let x = candle_core::Var::from_tensor(&Tensor::zeros(
            (1, 2, 2, 3),
            candle_core::DType::F32,
            &Device::Cpu,
        )?)?;
        let y = upsample_nearest2x(x.as_tensor())?;
        let r = Tensor::arange(0f32, 48., &Device::Cpu)?.reshape((1, 2, 4, 6))?;
        let g = (y * &r)?.sum_all()?.backward()?;
        let gx = g
            .get(x.as_tensor())
            .expect("grad")
            .flatten_all()?
            .to_vec1::<f32>()?;
        // Block (0, 0) of channel 0 holds r values 0, 1, 6, 7.
        assert_eq!(gx[0], 14.0);
        let want: Vec<f32> = (0..12)
            .map(|i| {
                let (c, i2, j2) = (i / 6, i / 3 % 2, i % 3);
                let at = |a: usize, b: usize| (c * 24 + (2 * i2 + a) * 6 + 2 * j2 + b) as f32;
                at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)
            })
            .collect();
        assert_eq!(gx, want);
        Ok(())
    }
}
