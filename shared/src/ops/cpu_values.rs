//! Direct access to the values of contiguous CPU tensors, for the hand-written CPU kernels
//! (convolution column matrices, fused instance norm, ReLU, reflection padding, pooling,
//! upsampling).

use candle_core::{
    backend::BackendStorage, CpuStorage, DType, Layout, Result, Shape, Tensor, WithDType,
};
use rayon::prelude::*;

/// `len` zeros, written by all threads: the kernels' output buffers are megabytes, and
/// `vec![0; len]` zeroes them on one thread while the others wait.
pub(crate) fn zeros<T: WithDType>(len: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(len);
    v.par_extend(rayon::iter::repeat_n(T::zero(), len));
    v
}

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

/// Runs `f` on the values of `inputs` made contiguous, as `T`, in order; an error if one is
/// not a CPU tensor of dtype `T`.
pub(crate) fn with_all_values<T: WithDType, R>(
    inputs: &[&Tensor],
    f: impl FnOnce(&[&[T]]) -> R,
) -> Result<R> {
    let tensors = inputs
        .iter()
        .map(|t| t.contiguous())
        .collect::<Result<Vec<_>>>()?;
    let guards: Vec<_> = tensors.iter().map(|t| t.storage_and_layout()).collect();
    let values = guards
        .iter()
        .map(|(s, layout)| match &**s {
            candle_core::Storage::Cpu(cpu) => storage_values::<T>(cpu, layout),
            _ => candle_core::bail!("CPU kernel given a tensor off the CPU"),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(f(&values))
}

/// Whether `x` is a tensor the hand-written CPU kernels take: on the CPU, f32 (training and
/// inference) or f64 (the float64 conformance test of the same code).
pub(crate) fn has_kernel(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64)
}

/// A CPU kernel written once for both dtypes the hand-written paths take (f32, f64): from
/// the values of its inputs, in order, the values of its output.
pub(crate) trait Kernel {
    fn run<T: WithDType>(&self, inputs: &[&[T]]) -> Vec<T>;
}

/// Runs `kernel` on a custom op's one input storage (its `cpu_fwd`).
pub(crate) fn run_on_storage(
    kernel: &impl Kernel,
    s: &CpuStorage,
    layout: &Layout,
) -> Result<CpuStorage> {
    match s.dtype() {
        DType::F32 => Ok(CpuStorage::F32(
            kernel.run(&[storage_values::<f32>(s, layout)?]),
        )),
        DType::F64 => Ok(CpuStorage::F64(
            kernel.run(&[storage_values::<f64>(s, layout)?]),
        )),
        d => candle_core::bail!("no CPU kernel for {d:?}"),
    }
}

/// Runs `kernel` on the values of CPU tensors of one dtype (a custom op's backward), the
/// result shaped `shape`.
pub(crate) fn run_on_tensors(
    kernel: &impl Kernel,
    inputs: &[&Tensor],
    shape: &Shape,
) -> Result<Tensor> {
    fn go<T: WithDType>(kernel: &impl Kernel, inputs: &[&Tensor], shape: &Shape) -> Result<Tensor> {
        let out = with_all_values::<T, _>(inputs, |values| kernel.run(values))?;
        Tensor::from_vec(out, shape, inputs[0].device())
    }
    match inputs.first().map(|t| t.dtype()) {
        Some(DType::F32) => go::<f32>(kernel, inputs, shape),
        Some(DType::F64) => go::<f64>(kernel, inputs, shape),
        d => candle_core::bail!("no CPU kernel for {d:?}"),
    }
}
