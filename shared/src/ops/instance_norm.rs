//! Instance normalisation (PyTorch `InstanceNorm2d(affine=True)`, eps 1e-5).
//!
//! On the CPU (f32 and f64) it is one fused operation with a hand-written backward: the
//! composed version below takes ~10 tensor passes forward and ~25 backward (what fusing
//! saved: BENCHMARKS.md). Its statistics
//! and sums are accumulated in f64 whatever the storage dtype: the backward subtracts nearly
//! equal terms.
//!
//! Elsewhere (CUDA, and f16 on the CPU) it is composed of tensor ops, statistics in f32 at
//! least (an f16 sum over a 256x256 plane overflows and its variance loses most of its
//! bits); training uses f64 statistics there for the reason above.

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp3, DType, Layout, Module, Result, Shape, Tensor,
    WithDType,
};
use candle_nn::VarBuilder;

use rayon::prelude::*;

use crate::ops::cpu_values::{has_kernel, storage_values, with_all_values, zeros};

#[derive(Debug, Clone)]
pub struct InstanceNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    stat_dtype: DType,
}

impl InstanceNorm {
    pub const EPS: f64 = 1e-5;

    /// `stat_dtype`: the dtype of the statistics and normalisation of the composed path
    /// (f32 or f64); the fused CPU path always accumulates in f64.
    pub fn new(channels: usize, stat_dtype: DType, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(channels, "weight", candle_nn::Init::Const(1.))?;
        let bias = vb.get_with_hints(channels, "bias", candle_nn::Init::Const(0.))?;
        Ok(Self {
            weight,
            bias,
            eps: Self::EPS,
            stat_dtype,
        })
    }

    /// The tensor-op version (any device and dtype).
    fn forward_composed(&self, x: &Tensor) -> Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let dtype = x.dtype();
        let x32 = x.to_dtype(self.stat_dtype)?.reshape((n, c, h * w))?;
        let mean = x32.mean_keepdim(2)?;
        let centred = x32.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(2)?;
        let inv_std = (var + self.eps)?.sqrt()?.recip()?;
        let gamma = self.weight.to_dtype(self.stat_dtype)?.reshape((1, c, 1))?;
        let beta = self.bias.to_dtype(self.stat_dtype)?.reshape((1, c, 1))?;
        // Fold the affine scale into the per-channel factor: one full-size multiply fewer.
        let scale = inv_std.broadcast_mul(&gamma)?;
        let y = centred.broadcast_mul(&scale)?.broadcast_add(&beta)?;
        y.reshape((n, c, h, w))?.to_dtype(dtype)
    }
}

/// What follows the norm in the same pass (see [`InstanceNorm::forward_then`]).
#[derive(Debug, Clone, Copy)]
pub enum Then<'a> {
    /// `max(y, 0)`.
    Relu,
    /// `y + skip`, the residual connection.
    Add(&'a Tensor),
}

impl InstanceNorm {
    /// The norm followed by `then`. When nothing is differentiated on the CPU (f32/f64
    /// inference) that is one pass writing one tensor; a separate ReLU or residual add read
    /// and wrote the whole activation again (with the statistics' two reads, a quarter of
    /// a small-network frame went to these passes). Otherwise the norm and then candle's op.
    pub fn forward_then(&self, x: &Tensor, then: Then) -> Result<Tensor> {
        let untracked_same_dtype = |t: &Tensor| t.dtype() == x.dtype() && !t.track_op();
        let fused = has_kernel(x)
            && [x, &self.weight, &self.bias]
                .into_iter()
                .all(untracked_same_dtype)
            && match then {
                Then::Add(skip) => untracked_same_dtype(skip) && skip.shape() == x.shape(),
                _ => true,
            };
        if !fused {
            return self.forward_then_composed(x, then);
        }
        let (n, c, h, w) = x.dims4()?;
        let op = FusedInstanceNorm { eps: self.eps };
        let relu = matches!(then, Then::Relu);
        let mut inputs = vec![x, &self.weight, &self.bias];
        if let Then::Add(skip) = then {
            inputs.push(skip);
        }
        fn run<T: WithDType>(
            op: &FusedInstanceNorm,
            inputs: &[&Tensor],
            dims: (usize, usize, usize),
            relu: bool,
        ) -> Result<Tensor> {
            let y = with_all_values::<T, _>(inputs, |v| {
                op.fwd(
                    v[0],
                    v[1],
                    v[2],
                    dims,
                    Epilogue {
                        relu,
                        skip: v.get(3).copied(),
                    },
                )
            })?;
            Tensor::from_vec(y, inputs[0].shape(), inputs[0].device())
        }
        let dims = (n, c, h * w);
        match x.dtype() {
            DType::F32 => run::<f32>(&op, &inputs, dims, relu),
            _ => run::<f64>(&op, &inputs, dims, relu),
        }
    }

    fn forward_then_composed(&self, x: &Tensor, then: Then) -> Result<Tensor> {
        let y = self.forward(x)?;
        match then {
            Then::Relu => crate::ops::relu::relu(&y),
            Then::Add(skip) => y + skip,
        }
    }
}

impl Module for InstanceNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let fused =
            has_kernel(x) && self.weight.dtype() == x.dtype() && self.bias.dtype() == x.dtype();
        if fused {
            x.contiguous()?.apply_op3(
                &self.weight,
                &self.bias,
                FusedInstanceNorm { eps: self.eps },
            )
        } else {
            self.forward_composed(x)
        }
    }
}

/// `y = gamma * (x - mean) / sqrt(var + eps) + beta` per (image, channel) plane, CPU only.
struct FusedInstanceNorm {
    eps: f64,
}

/// What the forward pass applies to each normalised value: `+ skip`, then ReLU.
#[derive(Clone, Copy)]
struct Epilogue<'a, T> {
    relu: bool,
    skip: Option<&'a [T]>,
}

impl<T> Epilogue<'_, T> {
    const NONE: Self = Self {
        relu: false,
        skip: None,
    };
}

/// Per-plane mean and 1/std (two passes, in f64).
fn plane_stats<T: WithDType>(plane: &[T], eps: f64) -> (f64, f64) {
    let n = plane.len() as f64;
    let mean = lane_sum(plane, |v| v) / n;
    let var = lane_sum(plane, |v| (v - mean) * (v - mean)) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// Independent f64 accumulators per sum: a single running f64 sum is one serial chain of
/// dependent adds, which the compiler cannot vectorise.
const LANES: usize = 8;

/// The sum of `f(v)` over `values`, in f64.
fn lane_sum<T: WithDType>(values: &[T], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0f64; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += f(v.to_f64());
        }
    }
    acc.iter().sum::<f64>() + rest.iter().map(|v| f(v.to_f64())).sum::<f64>()
}

/// The sums of `f(a, b)`'s two terms over paired values, in f64.
fn lane_sum2<T: WithDType>(a: &[T], b: &[T], f: impl Fn(f64, f64) -> (f64, f64)) -> (f64, f64) {
    let (mut s0, mut s1) = ([0f64; LANES], [0f64; LANES]);
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (xa, xb) in ca.zip(cb) {
        for i in 0..LANES {
            let (t0, t1) = f(xa[i].to_f64(), xb[i].to_f64());
            s0[i] += t0;
            s1[i] += t1;
        }
    }
    let (mut t0, mut t1) = (s0.iter().sum::<f64>(), s1.iter().sum::<f64>());
    for (x, y) in ra.iter().zip(rb) {
        let (u0, u1) = f(x.to_f64(), y.to_f64());
        t0 += u0;
        t1 += u1;
    }
    (t0, t1)
}

impl FusedInstanceNorm {
    fn fwd<T: WithDType>(
        &self,
        x: &[T],
        gamma: &[T],
        beta: &[T],
        (n, c, plane): (usize, usize, usize),
        then: Epilogue<T>,
    ) -> Vec<T> {
        let mut y = zeros(n * c * plane);
        y.par_chunks_mut(plane)
            .zip(x.par_chunks(plane))
            .enumerate()
            .for_each(|(p, (ys, xs))| {
                let (mean, rstd) = plane_stats(xs, self.eps);
                let scale = gamma[p % c].to_f64() * rstd;
                let shift = beta[p % c].to_f64() - mean * scale;
                let norm = |xv: &T| xv.to_f64() * scale + shift;
                // One loop per case, so that each is a plain vectorisable loop.
                match (then.skip, then.relu) {
                    (None, false) => ys.iter_mut().zip(xs).for_each(|(yv, xv)| {
                        *yv = T::from_f64(norm(xv));
                    }),
                    (None, true) => ys.iter_mut().zip(xs).for_each(|(yv, xv)| {
                        *yv = T::from_f64(norm(xv).max(0.0));
                    }),
                    (Some(skip), relu) => {
                        let skip = &skip[p * plane..(p + 1) * plane];
                        for ((yv, xv), sv) in ys.iter_mut().zip(xs).zip(skip) {
                            let v = norm(xv) + sv.to_f64();
                            *yv = T::from_f64(if relu { v.max(0.0) } else { v });
                        }
                    }
                }
            });
        y
    }

    /// Gradients for x, gamma and beta given the output gradient `dy`.
    fn bwd<T: WithDType>(
        &self,
        x: &[T],
        gamma: &[T],
        dy: &[T],
        (n, c, plane): (usize, usize, usize),
    ) -> (Vec<T>, Vec<T>, Vec<T>) {
        let mut dx = zeros(n * c * plane);
        let inv_n = 1.0 / plane as f64;
        // Per plane: (sum of dy, sum of dy * xhat), the beta and gamma gradients' terms.
        let sums: Vec<(f64, f64)> = dx
            .par_chunks_mut(plane)
            .zip(x.par_chunks(plane).zip(dy.par_chunks(plane)))
            .enumerate()
            .map(|(p, (dxs, (xs, gs)))| {
                let (mean, rstd) = plane_stats(xs, self.eps);
                let (sum_dy, sum_dy_xhat) = lane_sum2(xs, gs, |x, g| (g, g * (x - mean) * rstd));
                // dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat))
                let k = gamma[p % c].to_f64() * rstd;
                let (m_dy, m_dyx) = (sum_dy * inv_n, sum_dy_xhat * inv_n);
                for ((d, xv), gv) in dxs.iter_mut().zip(xs).zip(gs) {
                    let xhat = (xv.to_f64() - mean) * rstd;
                    *d = T::from_f64(k * (gv.to_f64() - m_dy - xhat * m_dyx));
                }
                (sum_dy, sum_dy_xhat)
            })
            .collect();
        let (mut dgamma, mut dbeta) = (vec![0f64; c], vec![0f64; c]);
        for (p, (sum_dy, sum_dy_xhat)) in sums.into_iter().enumerate() {
            dgamma[p % c] += sum_dy_xhat;
            dbeta[p % c] += sum_dy;
        }
        let cast = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect();
        (dx, cast(dgamma), cast(dbeta))
    }
}

impl CustomOp3 for FusedInstanceNorm {
    fn name(&self) -> &'static str {
        "instance-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l1.shape().dims4()?;
        let dims = (n, c, h * w);
        let y = match s1.dtype() {
            DType::F32 => CpuStorage::F32(self.fwd::<f32>(
                storage_values(s1, l1)?,
                storage_values(s2, l2)?,
                storage_values(s3, l3)?,
                dims,
                Epilogue::NONE,
            )),
            DType::F64 => CpuStorage::F64(self.fwd::<f64>(
                storage_values(s1, l1)?,
                storage_values(s2, l2)?,
                storage_values(s3, l3)?,
                dims,
                Epilogue::NONE,
            )),
            d => candle_core::bail!("instance norm: fused CPU path has no {d:?}"),
        };
        Ok((y, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, c, h, w) = x.dims4()?;
        let dims = (n, c, h * w);
        fn run<T: WithDType>(
            op: &FusedInstanceNorm,
            x: &Tensor,
            gamma: &Tensor,
            dy: &Tensor,
            dims: (usize, usize, usize),
        ) -> Result<(Tensor, Tensor, Tensor)> {
            let (dx, dg, db) =
                with_all_values::<T, _>(&[x, gamma, dy], |v| op.bwd(v[0], v[1], v[2], dims))?;
            let dev = x.device();
            Ok((
                Tensor::from_vec(dx, x.shape(), dev)?,
                Tensor::from_vec(dg, dims.1, dev)?,
                Tensor::from_vec(db, dims.1, dev)?,
            ))
        }
        let (dx, dg, db) = match x.dtype() {
            DType::F32 => run::<f32>(self, x, gamma, dy, dims)?,
            DType::F64 => run::<f64>(self, x, gamma, dy, dims)?,
            d => candle_core::bail!("instance norm: fused CPU path has no {d:?}"),
        };
        Ok((Some(dx), Some(dg), Some(db)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::max_rel;
    use candle_core::{Device, Var};
    use candle_nn::VarMap;

    /// The one-pass inference epilogues (ReLU, residual add) against the norm followed by
    /// candle's ops, in f32 and f64.
    #[test]
    fn norm_then_relu_or_add_in_one_pass() -> Result<()> {
        let dev = Device::Cpu;
        let (n, c, h, w) = (2, 3, 5, 7);
        for dtype in [DType::F32, DType::F64] {
            let vm = VarMap::new();
            let mut norm =
                InstanceNorm::new(c, DType::F64, VarBuilder::from_varmap(&vm, dtype, &dev))?;
            norm.weight = Tensor::new(&[0.5f64, 1.5, -1.0], &dev)?.to_dtype(dtype)?;
            norm.bias = Tensor::new(&[0.1f64, -0.2, 0.3], &dev)?.to_dtype(dtype)?;
            let x = Tensor::randn(0f64, 1.0, (n, c, h, w), &dev)?
                .affine(3.0, 5.0)?
                .to_dtype(dtype)?;
            let skip = Tensor::randn(0f64, 1.0, (n, c, h, w), &dev)?.to_dtype(dtype)?;
            let y = norm.forward(&x)?;
            let tol = if dtype == DType::F64 { 1e-12 } else { 1e-6 };
            let relu = norm.forward_then(&x, Then::Relu)?;
            assert!(max_rel(&relu, &y.relu()?) < tol, "{dtype:?} relu");
            let added = norm.forward_then(&x, Then::Add(&skip))?;
            assert!(max_rel(&added, &(&y + &skip)?) < tol, "{dtype:?} add");
            // Half the values are negative before the ReLU: it did clip.
            let zeros = relu.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
            assert!(zeros.iter().filter(|v| **v == 0.0).count() > n * c * h * w / 4);
        }
        Ok(())
    }

    /// The fused CPU op against the composed one in f64: output and the gradients of x,
    /// gamma and beta, on planes with a large offset (the ill-conditioned case) and a batch.
    #[test]
    fn fused_matches_composed() -> Result<()> {
        let dev = Device::Cpu;
        let (n, c, h, w) = (2, 5, 7, 9);
        let x0 = (Tensor::randn(0f64, 1.0, (n, c, h, w), &dev)? * 3.0)?;
        let offset = Tensor::arange(0f64, c as f64, &dev)?.reshape((1, c, 1, 1))?;
        let x0 = x0.broadcast_add(&(offset * 40.0)?)?;
        let r = Tensor::randn(0f64, 1.0, (n, c, h, w), &dev)?;
        for dtype in [DType::F32, DType::F64] {
            let vm = VarMap::new();
            let norm = InstanceNorm::new(c, DType::F64, VarBuilder::from_varmap(&vm, dtype, &dev))?;
            // Non-trivial affine parameters.
            let gamma = Tensor::new(&[0.5f64, 1.5, -1.0, 2.0, 0.1], &dev)?.to_dtype(dtype)?;
            let beta = Tensor::new(&[0.1f64, -0.2, 0.3, 0.0, 1.0], &dev)?.to_dtype(dtype)?;
            let run = |fused: bool| -> Result<Vec<Tensor>> {
                let x = Var::from_tensor(&x0.to_dtype(dtype)?)?;
                let g = Var::from_tensor(&gamma)?;
                let b = Var::from_tensor(&beta)?;
                let layer = InstanceNorm {
                    weight: g.as_tensor().clone(),
                    bias: b.as_tensor().clone(),
                    ..norm.clone()
                };
                let y = if fused {
                    layer.forward(x.as_tensor())?
                } else {
                    layer.forward_composed(x.as_tensor())?
                };
                let grads = (&y * r.to_dtype(dtype)?)?.sum_all()?.backward()?;
                let get = |v: &Var| grads.get(v.as_tensor()).cloned().expect("gradient");
                Ok(vec![y, get(&x), get(&g), get(&b)])
            };
            let (fused, composed) = (run(true)?, run(false)?);
            let tol = if dtype == DType::F64 { 1e-10 } else { 1e-5 };
            for (what, (a, b)) in ["y", "dx", "dgamma", "dbeta"]
                .iter()
                .zip(fused.iter().zip(&composed))
            {
                let e = max_rel(a, b);
                assert!(e < tol, "{dtype:?} {what}: {e}");
            }
        }
        Ok(())
    }
}
