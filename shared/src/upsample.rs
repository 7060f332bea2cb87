//! Nearest-neighbour x2 upsampling from broadcast and reshape.
//!
//! candle's `upsample_nearest2d` has a slow backward that also overwrites gradients;
//! a broadcast's backward is a plain sum, which is exact and fast.

use candle_core::{Result, Tensor};

pub fn upsample_nearest2x(x: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    x.reshape((n, c, h, 1, w, 1))?
        .broadcast_as((n, c, h, 2, w, 2))?
        .contiguous()?
        .reshape((n, c, 2 * h, 2 * w))
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
}
