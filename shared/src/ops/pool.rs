//! 2x2 max pooling, stride 2 (the VGG loss network's), with a one-pass CPU backward.
//!
//! candle's `max_pool2d` backward scales the gradient by the fraction of maxima in each
//! window (a quarter for a unique maximum), so off the CPU pooling is built from a reshape
//! and a max-reduction, whose backward routes the gradient to the maximum; on the CPU that
//! takes a comparison, a conversion and two multiplies over the full-size map. The CPU op
//! (f32, f64) remembers nothing: its backward finds each window's first maximum again, as
//! PyTorch routes ties.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::ops::cpu_values::{has_kernel, run_on_storage, run_on_tensors, zeros, Kernel};

/// 2x2 max pooling, stride 2 (odd trailing rows/columns dropped, as PyTorch does). A plane
/// under 2x2 has no window: an error, as in PyTorch.
pub fn max_pool2x2(x: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if h < 2 || w < 2 {
        candle_core::bail!("2x2 max pooling needs planes of at least 2x2 pixels, got {h}x{w}");
    }
    if has_kernel(x) {
        return x.contiguous()?.apply_op1(MaxPool2x2 { hw: (h, w) });
    }
    let (h2, w2) = (h / 2, w / 2);
    let x = if h % 2 == 1 || w % 2 == 1 {
        x.narrow(2, 0, 2 * h2)?.narrow(3, 0, 2 * w2)?
    } else {
        x.clone()
    };
    x.reshape((n, c, h2, 2, w2, 2))?.max(5)?.max(3)
}

/// The CPU op on `hw`-sized planes.
struct MaxPool2x2 {
    hw: (usize, usize),
}

/// Its backward, from the input and the output gradient.
struct MaxPool2x2Grad {
    hw: (usize, usize),
}

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

impl Kernel for MaxPool2x2 {
    fn run<T: WithDType>(&self, inputs: &[&[T]]) -> Vec<T> {
        let (h, w) = self.hw;
        let x = inputs[0];
        let out = (h / 2) * (w / 2);
        let mut y = zeros(x.len() / (h * w) * out);
        y.par_chunks_mut(out)
            .zip(x.par_chunks(h * w))
            .for_each(|(yp, plane)| {
                for (v, at) in yp.iter_mut().zip(argmaxes(plane, (h, w))) {
                    *v = plane[at];
                }
            });
        y
    }
}

impl Kernel for MaxPool2x2Grad {
    fn run<T: WithDType>(&self, inputs: &[&[T]]) -> Vec<T> {
        let (h, w) = self.hw;
        let (x, g) = (inputs[0], inputs[1]);
        let mut dx = zeros(x.len());
        dx.par_chunks_mut(h * w)
            .zip(x.par_chunks(h * w).zip(g.par_chunks((h / 2) * (w / 2))))
            .for_each(|(dp, (plane, gp))| {
                for (&v, at) in gp.iter().zip(argmaxes(plane, (h, w))) {
                    dp[at] += v;
                }
            });
        dx
    }
}

impl CustomOp1 for MaxPool2x2 {
    fn name(&self) -> &'static str {
        "max-pool2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        Ok((
            run_on_storage(self, s, l)?,
            Shape::from((n, c, h / 2, w / 2)),
        ))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        run_on_tensors(&MaxPool2x2Grad { hw: self.hw }, &[x, g], x.shape()).map(Some)
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

    /// Planes under 2x2 are an error, not a panic (a style image scaled below 8 px).
    #[test]
    fn planes_without_a_window_are_refused() -> Result<()> {
        for (h, w) in [(1, 5), (5, 1), (0, 0)] {
            let x = Tensor::zeros((1, 2, h, w), candle_core::DType::F32, &Device::Cpu)?;
            let e = max_pool2x2(&x).unwrap_err().to_string();
            assert!(e.contains(&format!("got {h}x{w}")), "{e}");
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
