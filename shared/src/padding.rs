//! Reflection padding (PyTorch `ReflectionPad2d`), which candle lacks.
//!
//! Built from `index_select` so it is differentiable (its backward is an index-add),
//! and it folds repeatedly so any pad works, even one wider than the tensor, which
//! the size-to-a-multiple-of-4 padding needs for tiny inputs.

use candle_core::{Result, Tensor};

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
    let x = reflect_axis(x, 3, left, right)?;
    reflect_axis(&x, 2, top, bottom)
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
