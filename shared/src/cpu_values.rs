//! Direct access to the values of contiguous CPU tensors, for the hand-written CPU kernels
//! (convolution column matrices, fused instance norm, ReLU, reflection padding).

use candle_core::{CpuStorage, Layout, Result, Tensor, WithDType};

/// Runs `f` on the values of a contiguous CPU tensor of dtype `T`; `None` for anything else.
pub(crate) fn with_values<T: WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> Option<R> {
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (candle_core::Storage::Cpu(cpu), Some((start, end))) => {
            T::cpu_storage_as_slice(cpu).ok().map(|v| f(&v[start..end]))
        }
        _ => None,
    }
}

/// The values of a CPU storage under a contiguous `layout` (what a custom op's `cpu_fwd`
/// receives).
pub(crate) fn storage_values<'a, T: WithDType>(
    s: &'a CpuStorage,
    layout: &Layout,
) -> Result<&'a [T]> {
    let v = T::cpu_storage_as_slice(s)?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&v[start..end]),
        None => candle_core::bail!("expected a contiguous tensor"),
    }
}

/// Runs `f` on the values of `t` made contiguous, as `T`; an error if `t` is not a CPU
/// tensor of dtype `T`.
pub(crate) fn read<T: WithDType, R>(t: &Tensor, f: impl FnOnce(&[T]) -> R) -> Result<R> {
    let t = t.contiguous()?;
    match with_values(&t, f) {
        Some(r) => Ok(r),
        None => candle_core::bail!(
            "expected a CPU tensor of {:?}, got {:?} on {:?}",
            T::DTYPE,
            t.dtype(),
            t.device()
        ),
    }
}
