//! Reflection padding (PyTorch `ReflectionPad2d`), which candle lacks.
//!
//! It folds repeatedly so any pad works, even one wider than the tensor, which the
//! size-to-a-multiple-of-4 padding needs for tiny inputs. On the CPU (f32, f64) it is one
//! gather forward and one scatter-add backward; elsewhere it is built from `narrow`/`cat`
//! and `index_select` (whose backward is an index-add), which on the CPU took two copies
//! forward and about six passes backward.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::ops::cpu_values::{has_kernel, run_on_storage, run_on_tensors, zeros, Kernel};

/// Source index for output position `i` of a reflection-padded axis of length `n`.
pub fn reflect_index(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let mut j = i.rem_euclid(period);
    if j >= n as isize {
        j = period - j;
    }
    j as usize
}

fn reflect_axis(x: &Tensor, dim: usize, before: usize, after: usize) -> Result<Tensor> {
    if before == 0 && after == 0 {
        return Ok(x.clone());
    }
    let n = x.dim(dim)?;
    // Cheap path: small pads as narrow+cat avoid a full gather of the tensor.
    if before < n && after < n && before <= 1 && after <= 1 {
        let mut parts = Vec::with_capacity(3);
        if before == 1 {
            parts.push(x.narrow(dim, 1, 1)?);
        }
        parts.push(x.clone());
        if after == 1 {
            parts.push(x.narrow(dim, n - 2, 1)?);
        }
        return Tensor::cat(&parts, dim);
    }
    let idx: Vec<u32> = (-(before as isize)..(n + after) as isize)
        .map(|i| reflect_index(i, n) as u32)
        .collect();
    let idx = Tensor::new(idx.as_slice(), x.device())?;
    // candle's cat along an inner dim can return a strided view; index_select needs contiguity.
    x.contiguous()?.index_select(&idx, dim)
}

/// Pads the last two dims of an NCHW tensor by reflection: (top, bottom, left, right).
pub fn reflection_pad2d(
    x: &Tensor,
    top: usize,
    bottom: usize,
    left: usize,
    right: usize,
) -> Result<Tensor> {
    if has_kernel(x) {
        let (_, _, h, w) = x.dims4()?;
        let op = ReflectionPad {
            rows: reflect_indices(h, top, bottom),
            cols: reflect_indices(w, left, right),
            hw: (h, w),
        };
        return x.contiguous()?.apply_op1(op);
    }
    let x = reflect_axis(x, 3, left, right)?;
    reflect_axis(&x, 2, top, bottom)
}

/// Source index of every position of an axis of length `n` padded by `before` and `after`.
fn reflect_indices(n: usize, before: usize, after: usize) -> Vec<usize> {
    (-(before as isize)..(n + after) as isize)
        .map(|i| reflect_index(i, n))
        .collect()
}

/// The CPU op: output pixel `(r, c)` of each plane is input pixel `(rows[r], cols[c])` of
/// the `hw`-sized input plane.
struct ReflectionPad {
    rows: Vec<usize>,
    cols: Vec<usize>,
    hw: (usize, usize),
}

impl Kernel for ReflectionPad {
    fn run<T: WithDType>(&self, inputs: &[&[T]]) -> Vec<T> {
        let (h, w) = self.hw;
        let x = inputs[0];
        let out = self.rows.len() * self.cols.len();
        let mut y = zeros(x.len() / (h * w) * out);
        y.par_chunks_mut(out)
            .zip(x.par_chunks(h * w))
            .for_each(|(yp, plane)| {
                for (&r, yrow) in self.rows.iter().zip(yp.chunks_exact_mut(self.cols.len())) {
                    let row = &plane[r * w..(r + 1) * w];
                    for (v, &c) in yrow.iter_mut().zip(&self.cols) {
                        *v = row[c];
                    }
                }
            });
        y
    }
}

/// Its backward: every padded position's gradient added onto the pixel it was copied from.
struct ReflectionPadGrad<'a>(&'a ReflectionPad);

impl Kernel for ReflectionPadGrad<'_> {
    fn run<T: WithDType>(&self, inputs: &[&[T]]) -> Vec<T> {
        let ReflectionPad {
            rows,
            cols,
            hw: (h, w),
        } = self.0;
        let (h, w) = (*h, *w);
        let g = inputs[0];
        let row_len = cols.len();
        let mut dx = zeros(g.len() / (rows.len() * row_len) * h * w);
        dx.par_chunks_mut(h * w)
            .zip(g.par_chunks(rows.len() * row_len))
            .for_each(|(plane, gp)| {
                for (&r, grow) in rows.iter().zip(gp.chunks_exact(row_len)) {
                    let row = &mut plane[r * w..(r + 1) * w];
                    for (&c, &v) in cols.iter().zip(grow) {
                        row[c] += v;
                    }
                }
            });
        dx
    }
}

impl CustomOp1 for ReflectionPad {
    fn name(&self) -> &'static str {
        "reflection-pad2d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, _, _) = l.shape().dims4()?;
        let shape = Shape::from((n, c, self.rows.len(), self.cols.len()));
        Ok((run_on_storage(self, s, l)?, shape))
    }

    fn bwd(&self, x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        run_on_tensors(&ReflectionPadGrad(self), &[g], x.shape()).map(Some)
    }
}

/// Symmetric reflection padding by `p` on all four sides.
#[derive(Debug, Clone, Copy)]
pub struct ReflectionPad2d(pub usize);

impl candle_core::Module for ReflectionPad2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        reflection_pad2d(x, self.0, self.0, self.0, self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_pytorch_reflection() {
        // PyTorch ReflectionPad1d(2) on [0,1,2,3] gives [2,1,0,1,2,3,2,1].
        let got: Vec<usize> = (-2..6).map(|i| reflect_index(i, 4)).collect();
        assert_eq!(got, vec![2, 1, 0, 1, 2, 3, 2, 1]);
    }

    /// The CPU op against the tensor-op path (which other devices take): values and
    /// gradient, for pads of 1 (narrow/cat there) and wider than the tensor (index_select).
    #[test]
    fn cpu_op_matches_tensor_ops() -> Result<()> {
        use candle_core::Var;
        for (top, bottom, left, right) in [(1, 1, 1, 1), (4, 4, 4, 4), (0, 3, 2, 0), (5, 1, 0, 7)] {
            let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (2, 3, 4, 5), &Device::Cpu)?)?;
            let composed = reflect_axis(
                &reflect_axis(x.as_tensor(), 3, left, right)?,
                2,
                top,
                bottom,
            )?;
            let fused = reflection_pad2d(x.as_tensor(), top, bottom, left, right)?;
            assert_eq!(fused.dims(), composed.dims());
            let diff = (&fused - &composed)?.abs()?.max_all()?.to_scalar::<f64>()?;
            assert_eq!(diff, 0.0, "values, pad {:?}", (top, bottom, left, right));
            let r = Tensor::randn(0f64, 1.0, fused.shape(), &Device::Cpu)?;
            let grad = |y: &Tensor| -> Result<Tensor> {
                Ok((y * &r)?
                    .sum_all()?
                    .backward()?
                    .get(x.as_tensor())
                    .expect("grad")
                    .clone())
            };
            let diff = (grad(&fused)? - grad(&composed)?)?
                .abs()?
                .max_all()?
                .to_scalar::<f64>()?;
            assert!(
                diff < 1e-12,
                "gradient, pad {:?}: {diff}",
                (top, bottom, left, right)
            );
        }
        Ok(())
    }

    #[test]
    fn pads_2d() -> Result<()> {
        let x = Tensor::arange(0f32, 12., &Device::Cpu)?.reshape((1, 1, 3, 4))?;
        let y = reflection_pad2d(&x, 1, 1, 2, 2)?;
        assert_eq!(y.dims4()?, (1, 1, 5, 8));
        let rows: Vec<Vec<f32>> = y.squeeze(0)?.squeeze(0)?.to_vec2()?;
        assert_eq!(rows[0], vec![6., 5., 4., 5., 6., 7., 6., 5.]);
        assert_eq!(rows[1], vec![2., 1., 0., 1., 2., 3., 2., 1.]);
        let y1 = reflection_pad2d(&x, 1, 1, 1, 1)?;
        let rows: Vec<Vec<f32>> = y1.squeeze(0)?.squeeze(0)?.to_vec2()?;
        assert_eq!(rows[0], vec![5., 4., 5., 6., 7., 6.]);
        Ok(())
    }
}
