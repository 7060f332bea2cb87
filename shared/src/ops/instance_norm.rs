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

/// The scale (`weight`) and shift (`bias`) are `[C]`, one per channel; or `[N, C]`, one per
/// image of the batch (a multi-style network trained with a style per image); or, in a
/// style bank, `[S, C]`, one per style, which [`InstanceNorm::styled`] mixes down first.
#[derive(Debug, Clone)]
pub struct InstanceNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
    stat_dtype: DType,
    /// `weight` and `bias` are a style bank `[S, C]`, not yet mixed.
    bank: bool,
}

impl InstanceNorm {
    pub const EPS: f64 = 1e-5;

    /// `stat_dtype`: the dtype of the statistics and normalisation of the composed path
    /// (f32 or f64); the fused CPU path always accumulates in f64. `styles` > 1 makes a
    /// style bank (`[styles, channels]` parameters).
    pub fn new(channels: usize, styles: usize, stat_dtype: DType, vb: VarBuilder) -> Result<Self> {
        let bank = styles > 1;
        let shape: Shape = if bank {
            (styles, channels).into()
        } else {
            channels.into()
        };
        let weight = vb.get_with_hints(shape.clone(), "weight", candle_nn::Init::Const(1.))?;
        let bias = vb.get_with_hints(shape, "bias", candle_nn::Init::Const(0.))?;
        Ok(Self {
            weight,
            bias,
            eps: Self::EPS,
            stat_dtype,
            bank,
        })
    }

    /// How many styles the parameters hold (1 unless a bank).
    pub fn styles(&self) -> usize {
        if self.bank {
            self.weight.dims()[0]
        } else {
            1
        }
    }

    /// The norm with its scale and shift mixed from the styles by `mix`: `[S]` weights give
    /// one scale per channel for the whole batch, `[N, S]` one per image (training, a style
    /// per image). Mixed in f32 and stored back in the parameters' dtype, so a mix that is
    /// all one style gives exactly that style's values. Gradients flow to the bank.
    pub fn styled(&self, mix: &Tensor) -> Result<Self> {
        let styles = self.styles();
        if mix.dims().last() != Some(&styles) || mix.rank() > 2 {
            candle_core::bail!(
                "instance norm: a style mix of shape {:?} for a network of {styles} style(s)",
                mix.dims()
            );
        }
        let mixed = |t: &Tensor| -> Result<Tensor> {
            let dtype = t.dtype();
            let rows = t.to_dtype(DType::F32)?.reshape((styles, ()))?;
            let m = mix.to_dtype(DType::F32)?;
            let y = if m.rank() == 1 {
                m.unsqueeze(0)?.matmul(&rows)?.squeeze(0)?
            } else {
                m.matmul(&rows)?
            };
            y.to_dtype(dtype)
        };
        Ok(Self {
            weight: mixed(&self.weight)?,
            bias: mixed(&self.bias)?,
            bank: false,
            ..self.clone()
        })
    }

    /// The scale and shift as `[1 or N, C, 1]`, for broadcasting over planes; an error
    /// for an unmixed bank or a per-image scale of another batch size.
    fn affine_for(&self, n: usize, c: usize) -> Result<(Tensor, Tensor)> {
        if self.bank {
            candle_core::bail!(
                "instance norm: a network of {} styles needs a style chosen (TransformerNet::styled) before it runs",
                self.styles()
            );
        }
        let rows = match self.weight.elem_count() {
            k if k == c => 1,
            k if k == n * c => n,
            k => candle_core::bail!(
                "instance norm: {k} scale values for a batch of {n} with {c} channels"
            ),
        };
        Ok((
            self.weight.reshape((rows, c, 1))?,
            self.bias.reshape((rows, c, 1))?,
        ))
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
        let (gamma, beta) = self.affine_for(n, c)?;
        let gamma = gamma.to_dtype(self.stat_dtype)?;
        let beta = beta.to_dtype(self.stat_dtype)?;
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
        self.affine_for(n, c)?;
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
            let (n, c, _, _) = x.dims4()?;
            self.affine_for(n, c)?;
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

/// `y = gamma * (x - mean) / sqrt(var + eps) + beta` per (image, channel) plane, CPU only;
/// gamma and beta hold one value per channel, or one per plane (`[N, C]`): plane `p` takes
/// value `p % len` either way.
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
                let scale = gamma[p % gamma.len()].to_f64() * rstd;
                let shift = beta[p % beta.len()].to_f64() - mean * scale;
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
        let per = gamma.len();
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
                let k = gamma[p % per].to_f64() * rstd;
                let (m_dy, m_dyx) = (sum_dy * inv_n, sum_dy_xhat * inv_n);
                for ((d, xv), gv) in dxs.iter_mut().zip(xs).zip(gs) {
                    let xhat = (xv.to_f64() - mean) * rstd;
                    *d = T::from_f64(k * (gv.to_f64() - m_dy - xhat * m_dyx));
                }
                (sum_dy, sum_dy_xhat)
            })
            .collect();
        debug_assert!(per == c || per == n * c);
        let (mut dgamma, mut dbeta) = (vec![0f64; per], vec![0f64; per]);
        for (p, (sum_dy, sum_dy_xhat)) in sums.into_iter().enumerate() {
            dgamma[p % per] += sum_dy_xhat;
            dbeta[p % per] += sum_dy;
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
        beta: &Tensor,
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
                Tensor::from_vec(dg, gamma.shape(), dev)?,
                Tensor::from_vec(db, gamma.shape(), dev)?,
            ))
        }
        let (dx, dg, db) = match x.dtype() {
            DType::F32 => run::<f32>(self, x, gamma, dy, dims)?,
            DType::F64 => run::<f64>(self, x, gamma, dy, dims)?,
            d => candle_core::bail!("instance norm: fused CPU path has no {d:?}"),
        };
        // Only what is differentiated: a fixed scale and shift (`host-train add-style`
        // freezes the other styles' and the shared layers') or a constant input get none.
        let wanted = |t: &Tensor, g: Tensor| t.track_op().then_some(g);
        Ok((wanted(x, dx), wanted(gamma, dg), wanted(beta, db)))
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
                InstanceNorm::new(c, 1, DType::F64, VarBuilder::from_varmap(&vm, dtype, &dev))?;
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
            let norm =
                InstanceNorm::new(c, 1, DType::F64, VarBuilder::from_varmap(&vm, dtype, &dev))?;
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

    /// A style bank mixed per image (`[N, S]` weights): each image's output is what running
    /// it alone with its mix gives, and the fused op's gradients reach the bank as the
    /// composed op's do. An unmixed bank refuses to run.
    #[test]
    fn per_image_styles_match_running_each_image_alone() -> Result<()> {
        let dev = Device::Cpu;
        let (n, c, h, w, s) = (3, 4, 5, 6, 2);
        let vm = VarMap::new();
        let bank = InstanceNorm::new(
            c,
            s,
            DType::F64,
            VarBuilder::from_varmap(&vm, DType::F64, &dev),
        )?;
        assert_eq!(bank.styles(), s);
        for var in vm.all_vars() {
            var.set(&Tensor::randn(0f64, 1.0, var.shape(), &dev)?)?;
        }
        let x = (Tensor::randn(0f64, 1.0, (n, c, h, w), &dev)? * 4.0)?;
        let mix = Tensor::new(&[[1f32, 0.], [0., 1.], [0.25, 0.75]], &dev)?;
        let y = bank.styled(&mix)?.forward(&x)?;
        for i in 0..n {
            let alone = bank.styled(&mix.get(i)?)?.forward(&x.narrow(0, i, 1)?)?;
            let e = max_rel(&alone, &y.narrow(0, i, 1)?);
            assert!(e < 1e-12, "image {i}: {e}");
        }
        // The two styles differ, so the first two images differ from what one style gives.
        let first_only = bank.styled(&Tensor::new(&[1f32, 0.], &dev)?)?.forward(&x)?;
        assert!(max_rel(&first_only.narrow(0, 1, 1)?, &y.narrow(0, 1, 1)?) > 1e-3);

        let r = Tensor::randn(0f64, 1.0, (n, c, h, w), &dev)?;
        let grads = |fused: bool| -> Result<Vec<Tensor>> {
            let layer = bank.styled(&mix)?;
            let y = if fused {
                layer.forward(&x)?
            } else {
                layer.forward_composed(&x)?
            };
            let g = (&y * &r)?.sum_all()?.backward()?;
            let vars = vm.data().lock().expect("varmap");
            let mut named: Vec<_> = vars.iter().collect();
            named.sort_by_key(|(k, _)| k.to_string());
            Ok(named
                .iter()
                .map(|(_, v)| g.get(v.as_tensor()).cloned().expect("gradient"))
                .collect())
        };
        for (a, b) in grads(true)?.iter().zip(&grads(false)?) {
            let e = max_rel(a, b);
            assert!(e < 1e-10, "bank gradient: {e}");
            assert_eq!(a.dims(), &[s, c]);
        }
        let e = bank.forward(&x).unwrap_err().to_string();
        assert!(e.contains("needs a style chosen"), "{e}");
        let e = bank
            .styled(&Tensor::new(&[1f32, 0., 0.], &dev)?)
            .unwrap_err()
            .to_string();
        assert!(e.contains("for a network of 2 style(s)"), "{e}");
        Ok(())
    }
}
