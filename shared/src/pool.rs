//! 2x2 max pooling, stride 2 (the VGG loss network's), with a one-pass CPU backward.
//!
//! candle's `max_pool2d` backward scales the gradient by the fraction of maxima in each
//! window (a quarter for a unique maximum), so off the CPU pooling is built from a reshape
//! and a max-reduction, whose backward routes the gradient to the maximum; on the CPU that
//! took a comparison, a conversion and two multiplies over the full-size map (about 250 ms
//! a training step at batch 4, 256x256). The CPU op (f32, f64) remembers nothing: its
//! backward finds each window's first maximum again, as PyTorch routes ties.

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, WithDType,
};
use rayon::prelude::*;

use crate::cpu_values::{read, storage_values};

/// 2x2 max pooling, stride 2 (odd trailing rows/columns dropped, as PyTorch does).
pub fn max_pool2x2(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
        return x.contiguous()?.apply_op1(MaxPool2x2);
    }
    let (n, c, h, w) = x.dims4()?;
    let (h2, w2) = (h / 2, w / 2);
    let x = if h % 2 == 1 || w % 2 == 1 {
        x.narrow(2, 0, 2 * h2)?.narrow(3, 0, 2 * w2)?
    } else {
        x.clone()
    };
    x.reshape((n, c, h2, 2, w2, 2))?.max(5)?.max(3)
}

struct MaxPool2x2;

/// For each output pixel of a plane, in order, the offset within the plane of its window's
/// first maximum, in PyTorch's scan order (row by row).
fn argmaxes<T: WithDType>(plane: &[T], (h, w): (usize, usize)) -> impl Iterator<Item = usize> + '_ {
    (0..h / 2).flat_map(move |i| {
        (0..w / 2).map(move |j| {
            let top = 2 * i * w + 2 * j;
            let mut best = top;
            for at in [top + 1, top + w, top + w + 1] {
                if plane[at] > plane[best] {
                    best = at;
                }
            }
            best
        })
    })
}

fn pool_fwd<T: WithDType>(x: &[T], (h, w): (usize, usize)) -> Vec<T> {
    let out = (h / 2) * (w / 2);
    let mut y = vec![T::from_f64(0.0); x.len() / (h * w) * out];
    y.par_chunks_mut(out)
        .zip(x.par_chunks(h * w))
        .for_each(|(yp, plane)| {
            for (v, at) in yp.iter_mut().zip(argmaxes(plane, (h, w))) {
                *v = plane[at];
            }
        });
    y
}

fn pool_bwd<T: WithDType>(x: &[T], g: &[T], (h, w): (usize, usize)) -> Vec<T> {
    let mut dx = vec![T::from_f64(0.0); x.len()];
    dx.par_chunks_mut(h * w)
        .zip(x.par_chunks(h * w).zip(g.par_chunks((h / 2) * (w / 2))))
        .for_each(|(dp, (plane, gp))| {
            for (&v, at) in gp.iter().zip(argmaxes(plane, (h, w))) {
                dp[at] += v;
            }
        });
    dx
}

impl CustomOp1 for MaxPool2x2 {
    fn name(&self) -> &'static str {
        "max-pool2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        let y = match s.dtype() {
            DType::F32 => CpuStorage::F32(pool_fwd::<f32>(storage_values(s, l)?, (h, w))),
            DType::F64 => CpuStorage::F64(pool_fwd::<f64>(storage_values(s, l)?, (h, w))),
            d => candle_core::bail!("max pool: CPU path has no {d:?}"),
        };
        Ok((y, Shape::from((n, c, h / 2, w / 2))))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let (_, _, h, w) = x.dims4()?;
        fn run<T: WithDType>(x: &Tensor, g: &Tensor, hw: (usize, usize)) -> Result<Tensor> {
            let dx = read(x, |xv: &[T]| read(g, |gv: &[T]| pool_bwd(xv, gv, hw)))??;
            Tensor::from_vec(dx, x.shape(), x.device())
        }
        Ok(Some(match x.dtype() {
            DType::F32 => run::<f32>(x, g, (h, w))?,
            _ => run::<f64>(x, g, (h, w))?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Values and gradient against the reshape-and-max path, odd sizes included (ties are
    /// avoided: the two paths route them differently).
    #[test]
    fn cpu_op_matches_reduction() -> Result<()> {
        for (h, w) in [(4, 6), (5, 7)] {
            let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (2, 3, h, w), &Device::Cpu)?)?;
            let (n, c, h2, w2) = (2, 3, h / 2, w / 2);
            let reduced = x
                .as_tensor()
                .narrow(2, 0, 2 * h2)?
                .narrow(3, 0, 2 * w2)?
                .reshape((n, c, h2, 2, w2, 2))?
                .max(5)?
                .max(3)?;
            let pooled = max_pool2x2(x.as_tensor())?;
            let diff = (&pooled - &reduced)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert_eq!(diff, 0.0, "values {h}x{w}");
            let r = Tensor::randn(0f64, 1.0, pooled.shape(), &Device::Cpu)?;
            let grad = |y: &Tensor| -> Result<Tensor> {
                Ok((y * &r)?
                    .sum_all()?
                    .backward()?
                    .get(x.as_tensor())
                    .expect("grad")
                    .clone())
            };
            let diff = (grad(&pooled)? - grad(&reduced)?)?
                .abs()?
                .max_all()?
                .to_scalar::<f64>()?;
            assert_eq!(diff, 0.0, "gradient {h}x{w}");
        }
        Ok(())
    }

    /// A tie goes to the window's first maximum, as in PyTorch.
    #[test]
    fn ties_route_to_the_first_maximum() -> Result<()> {
        let x = Var::new(&[[[[1f32, 3.0], [3.0, 0.0]]]], &Device::Cpu)?;
        let g = max_pool2x2(x.as_tensor())?.sum_all()?.backward()?;
        let gx = g
            .get(x.as_tensor())
            .expect("grad")
            .flatten_all()?
            .to_vec1::<f32>()?;
        assert_eq!(gx, vec![0.0, 1.0, 0.0, 0.0]);
        Ok(())
    }
}
