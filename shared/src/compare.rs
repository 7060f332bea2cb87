//! How far one tensor is from another, as the conformance fixtures state their tolerances:
//! the largest absolute difference over the largest magnitude of the reference. Used by the
//! unit tests, the conformance tests and device checks alike, so they all mean the same.

use candle_core::{DType, Device, Result, Tensor};

/// max |got - want| / max |want|, in f64 on the CPU whatever the tensors' device and dtype;
/// the plain max |got - want| where `want` is all zeros. Shapes must match.
pub fn max_rel_diff(got: &Tensor, want: &Tensor) -> Result<f64> {
    let cpu64 = |t: &Tensor| t.to_device(&Device::Cpu)?.to_dtype(DType::F64);
    let (got, want) = (cpu64(got)?, cpu64(want)?);
    let max_abs = |t: &Tensor| t.abs()?.max_all()?.to_scalar::<f64>();
    let diff = max_abs(&got.sub(&want)?)?;
    let scale = max_abs(&want)?;
    Ok(if scale == 0.0 { diff } else { diff / scale })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_to_the_reference_and_shape_checked() {
        let want = Tensor::new(&[2f32, -4.0, 1.0], &Device::Cpu).unwrap();
        let got = Tensor::new(&[2f32, -3.0, 1.0], &Device::Cpu).unwrap();
        assert_eq!(max_rel_diff(&got, &want).unwrap(), 0.25);
        let zeros = Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap();
        assert_eq!(max_rel_diff(&got, &zeros).unwrap(), 3.0);
        let other = Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap();
        assert!(max_rel_diff(&got, &other).is_err());
    }
}
