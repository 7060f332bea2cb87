//! The convolution layer: weight, optional bias and [`ConvParams`], with the path chosen
//! per call: cuDNN on CUDA (feature `cudnn`), the crate's CPU kernels, else candle's
//! conv2d; inputs detached and the gradient carried by [`ConvGrad`] when anything upstream
//! is differentiated.

use std::sync::{Arc, OnceLock};

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::cpu::conv2d_cpu;
use super::grad::ConvGrad;
use super::params::{ConvParams, GradsWanted};
use super::winograd::{conv3x3_reflect, WinogradKernel};

#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    params: ConvParams,
    /// No kernel gradient (weights that are never trained).
    frozen: bool,
    /// The kernels in the Winograd domain, made at the first inference that takes that path
    /// (`None` inside: a layer it does not apply to). Shared by clones of the layer.
    winograd: Arc<OnceLock<Option<WinogradKernel>>>,
}

impl Conv2d {
    pub fn new(weight: Tensor, bias: Option<Tensor>, params: ConvParams, frozen: bool) -> Self {
        Self {
            weight,
            bias,
            params,
            frozen,
            winograd: Arc::default(),
        }
    }

    /// Weight `(cout, cin, k, k)` and bias `(cout)` named `weight` and `bias` under `vb`,
    /// initialised as PyTorch's `Conv2d` does when created fresh.
    pub fn load(
        cin: usize,
        cout: usize,
        k: usize,
        params: ConvParams,
        vb: VarBuilder,
    ) -> Result<Self> {
        let bound = 1.0 / ((cin * k * k) as f64).sqrt();
        let init = candle_nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let weight = vb.get_with_hints((cout, cin, k, k), "weight", init)?;
        let bias = vb.get_with_hints(cout, "bias", init)?;
        Ok(Self::new(weight, Some(bias), params, false))
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// `y` plus the bias, broadcast over batch and pixels.
    pub(crate) fn add_bias(&self, y: Tensor) -> Result<Tensor> {
        match &self.bias {
            Some(b) => broadcast_bias(y, b),
            None => Ok(y),
        }
    }

    /// The bias when it is being trained (its gradient then comes from [`ConvGrad`]).
    fn trained_bias(&self) -> Option<&Tensor> {
        self.bias.as_ref().filter(|b| !self.frozen && b.track_op())
    }

    pub fn params(&self) -> ConvParams {
        self.params
    }

    /// This 3x3 stride-1 layer on `x` reflection-padded by `pad`, by Winograd F(4x4, 3x3),
    /// where that applies: f32 CPU inference of one image, pad 1, and enough channels for
    /// the transforms to pay (see [`super::winograd`]). No bias.
    pub(crate) fn forward_reflect_winograd(
        &self,
        x: &Tensor,
        pad: usize,
    ) -> Result<Option<Tensor>> {
        let (o, c, k, _) = self.weight.dims4()?;
        let (n, _, h, w) = x.dims4()?;
        let applies = pad == 1
            && k == 3
            && self.params
                == (ConvParams {
                    stride: 1,
                    padding: 0,
                })
            && n == 1
            && h >= 2
            && w >= 2
            && c.min(o) >= WINOGRAD_MIN_CHANNELS
            && x.device().is_cpu()
            && x.dtype() == DType::F32
            && !x.track_op()
            && !self.weight.track_op();
        if !applies {
            return Ok(None);
        }
        let kernel = match self.winograd.get() {
            Some(k) => k,
            None => {
                let k = WinogradKernel::new(&self.weight)?;
                self.winograd.get_or_init(|| k)
            }
        };
        kernel.as_ref().map(|k| conv3x3_reflect(x, k)).transpose()
    }
}

/// Fewer channels than this keep im2col + GEMM: the 36 small GEMMs and the transforms'
/// passes then cost more than they save (BENCHMARKS.md).
const WINOGRAD_MIN_CHANNELS: usize = 32;

impl Conv2d {
    /// The convolution; `bias_needed`: whether the result must include the bias even when
    /// nothing is differentiated. A layer that an instance norm follows passes `false`: the
    /// norm subtracts any per-channel constant again (a pass over the activation saved).
    /// With gradients the bias is always added, so that it gets its (zero) gradient.
    pub(crate) fn forward_with(&self, x: &Tensor, bias_needed: bool) -> Result<Tensor> {
        let ConvParams { stride, padding } = self.params;
        // Only build the gradient path when something upstream is being differentiated.
        let needs_grad = GradsWanted::of(x, &self.weight, self.frozen).any();
        // cuDNN takes the dtypes the network runs in on CUDA; others keep candle's path.
        #[cfg(feature = "cudnn")]
        if x.device().is_cuda() && matches!(x.dtype(), DType::F32 | DType::F16) {
            let y = super::cudnn::conv2d(x, &self.weight, self.params, self.frozen)?;
            return if bias_needed || needs_grad {
                self.add_bias(y)
            } else {
                Ok(y)
            };
        }
        let (x0, w0) = (x.detach(), self.weight.detach());
        let fast = conv2d_cpu(&x0, &w0, self.params)?;
        let y = match fast {
            Some(y) => y,
            None => x0.conv2d(&w0, padding, stride, 1, 1)?,
        };
        if !needs_grad {
            return if bias_needed { self.add_bias(y) } else { Ok(y) };
        }
        let op = ConvGrad {
            params: self.params,
            frozen: self.frozen,
        };
        match self.trained_bias() {
            Some(b) => broadcast_bias(y, &b.detach())? + x.apply_op3(&self.weight, b, op)?,
            None => self.add_bias((y + x.apply_op2(&self.weight, op)?)?),
        }
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, true)
    }
}

/// `y` plus a per-channel bias `b`, broadcast over batch and pixels.
fn broadcast_bias(y: Tensor, b: &Tensor) -> Result<Tensor> {
    y.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::cpu::zero_pad;
    use crate::test_util::max_rel;
    use candle_core::{DType, Device};

    /// A direct convolution and its two gradients for the output gradient `r`, in f64 loops:
    /// the reference the fast paths are checked against.
    fn direct_conv_and_grads(
        x: &Tensor,
        w: &Tensor,
        r: &Tensor,
        ConvParams { stride, padding }: ConvParams,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (n, c, h, wd) = x.dims4()?;
        let (o, _, k, _) = w.dims4()?;
        let xp = zero_pad(&x.to_dtype(DType::F64)?, padding)?;
        let (hp, wp) = (h + 2 * padding, wd + 2 * padding);
        let p = ConvParams { stride, padding };
        let (ho, wo) = (p.out_len(h, k), p.out_len(wd, k));
        let v = |t: &Tensor| t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>();
        let (xv, wv, rv) = (v(&xp)?, v(w)?, v(r)?);
        let (mut y, mut gxp, mut gw) = (
            vec![0f64; n * o * ho * wo],
            vec![0f64; xv.len()],
            vec![0f64; wv.len()],
        );
        for ni in 0..n {
            for oi in 0..o {
                for a in 0..ho {
                    for b in 0..wo {
                        let yi = ((ni * o + oi) * ho + a) * wo + b;
                        for ci in 0..c {
                            for dy in 0..k {
                                for dx in 0..k {
                                    let xi = ((ni * c + ci) * hp + a * stride + dy) * wp
                                        + b * stride
                                        + dx;
                                    let wi = ((oi * c + ci) * k + dy) * k + dx;
                                    y[yi] += xv[xi] * wv[wi];
                                    gxp[xi] += rv[yi] * wv[wi];
                                    gw[wi] += rv[yi] * xv[xi];
                                }
                            }
                        }
                    }
                }
            }
        }
        let dev = &Device::Cpu;
        let gx = Tensor::from_vec(gxp, (n, c, hp, wp), dev)?
            .narrow(2, padding, h)?
            .narrow(3, padding, wd)?;
        Ok((
            Tensor::from_vec(y, (n, o, ho, wo), dev)?,
            gx,
            Tensor::from_vec(gw, (o, c, k, k), dev)?,
        ))
    }

    /// The gradients through [`Conv2d`] on the CPU against direct loops, in f32 and f64 (the
    /// CPU's own paths: im2col forward and kernel gradient, col2im for strides) and in f16
    /// (the generic paths CUDA also takes: candle's conv2d on the dilated gradient and on the
    /// transposed input): strides, padding, odd sizes whose last rows no window reaches, a
    /// batch, several bands.
    #[test]
    fn cpu_training_gradients_match_direct_convolution() -> Result<()> {
        use candle_core::Var;
        let cases = [
            // (n, c, o, h, w, k, stride, padding)
            (2, 5, 7, 11, 13, 3, 2, 0),
            (1, 4, 6, 10, 9, 3, 2, 1),
            (2, 3, 4, 12, 11, 9, 1, 0),
            (1, 6, 3, 9, 10, 9, 1, 4),
            (2, 8, 16, 9, 8, 3, 1, 1),
            // 64 * 9 * 62 * 4 bytes a row of columns: 16 MB bands of 117 rows, two bands.
            (1, 64, 8, 200, 64, 3, 1, 0),
            // VGG's first layer, 3 -> 64 (its input gradient by col2im), in two bands.
            (1, 3, 64, 200, 1000, 3, 1, 1),
        ];
        for (n, c, o, h, w, k, stride, padding) in cases {
            let case = (n, c, o, h, w, k, stride, padding);
            let x = Tensor::randn(0f32, 1.0, (n, c, h, w), &Device::Cpu)?;
            let wt = Tensor::randn(0f32, 0.3, (o, c, k, k), &Device::Cpu)?;
            let params = ConvParams { stride, padding };
            let (ho, wo) = (params.out_len(h, k), params.out_len(w, k));
            // An output gradient that differs at every pixel, and with a mean: sums of
            // sin(0), sin(1), ... alone stay below 2.1, so a bias gradient would be all
            // cancellation.
            let r = Tensor::arange(0f32, (n * o * ho * wo) as f32, &Device::Cpu)?
                .reshape((n, o, ho, wo))?
                .sin()?
                .affine(1.0, 0.25)?;
            let (y_ref, gx_ref, gw_ref) = direct_conv_and_grads(&x, &wt, &r, params)?;
            let bias = Tensor::arange(0f32, o as f32, &Device::Cpu)?.affine(0.5, -1.0)?;
            let y_ref =
                y_ref.broadcast_add(&bias.to_dtype(y_ref.dtype())?.reshape((1, o, 1, 1))?)?;
            for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12), (DType::F16, 1e-2)] {
                let xv = Var::from_tensor(&x.to_dtype(dtype)?)?;
                let wv = Var::from_tensor(&wt.to_dtype(dtype)?)?;
                let bv = Var::from_tensor(&bias.to_dtype(dtype)?)?;
                let conv = Conv2d::new(
                    wv.as_tensor().clone(),
                    Some(bv.as_tensor().clone()),
                    params,
                    false,
                );
                let y = conv.forward(xv.as_tensor())?;
                let gs = (&y * r.to_dtype(dtype)?)?.sum_all()?.backward()?;
                let gx = gs.get(xv.as_tensor()).expect("input gradient");
                let gw = gs.get(wv.as_tensor()).expect("kernel gradient");
                let gb = gs.get(bv.as_tensor()).expect("bias gradient");
                // Of the gradient as this dtype holds it, summed exactly.
                let gb_ref = r.to_dtype(dtype)?.to_dtype(DType::F64)?.sum((0, 2, 3))?;
                let e = max_rel(gb, &gb_ref);
                assert!(e < tol, "bias gradient {dtype:?} {case:?}: {e}");
                let e = max_rel(&y, &y_ref);
                assert!(e < tol, "output {dtype:?} {case:?}: {e}");
                let e = max_rel(gx, &gx_ref);
                assert!(e < tol, "input gradient {dtype:?} {case:?}: {e}");
                // In f16 each kernel gradient value is a sum over every output pixel, whose
                // rounding error grows with the square root of their count: at VGG's 200x1000
                // it was 0.5-1.4e-2 of the largest value from run to run (random inputs).
                let gw_tol = match dtype {
                    DType::F16 => tol * ((n * ho * wo) as f64 / 16384.0).sqrt().max(1.0),
                    _ => tol,
                };
                let e = max_rel(gw, &gw_ref);
                assert!(e < gw_tol, "kernel gradient {dtype:?} {case:?}: {e}");
            }
        }
        Ok(())
    }
}

/// The cuDNN path against the CPU path (the test of `cudnn.rs`, here because its reference is
/// this layer on the CPU).
#[cfg(all(test, feature = "cudnn"))]
mod cudnn_tests {
    use super::super::cudnn::conv2d;
    use super::*;
    use crate::test_util::max_rel as rel;
    use candle_core::{DType, Device, Var};

    /// cuDNN against the CPU path (which the conformance tests hold to PyTorch): output, input
    /// gradient, kernel gradient, for the network's shapes. Needs a CUDA device: on the GPU
    /// machine run the test binary from `cargo test -p stylecast --features cudnn --no-run`.
    #[test]
    fn matches_the_cpu_forward_and_gradients() {
        let Ok(gpu) = Device::new_cuda(0) else {
            eprintln!("!!!! no CUDA device: cudnn conv test NOT run");
            return;
        };
        // (batch, cin, cout, size, kernel, stride, padding)
        for (n, ci, co, s, k, stride, padding) in [
            (2, 3, 32, 40, 9, 1, 0),
            (2, 32, 64, 34, 3, 2, 0),
            (1, 128, 128, 20, 3, 1, 1),
            (2, 32, 3, 48, 9, 1, 0),
        ] {
            let p = ConvParams { stride, padding };
            let x = Tensor::randn(0f32, 1.0, (n, ci, s, s + 3), &Device::Cpu).unwrap();
            let w = Tensor::randn(0f32, 0.1, (co, ci, k, k), &Device::Cpu).unwrap();
            let run = |d: &Device, cudnn: bool| {
                let xv = Var::from_tensor(&x.to_device(d).unwrap()).unwrap();
                let wv = Var::from_tensor(&w.to_device(d).unwrap()).unwrap();
                // The reference is the crate's CPU convolution: candle's own conv2d backward
                // fails (shape mismatch) on case 2, whose stride leaves a remainder in H only.
                let y = if cudnn {
                    conv2d(xv.as_tensor(), wv.as_tensor(), p, false).unwrap()
                } else {
                    Conv2d::new(wv.as_tensor().clone(), None, p, false)
                        .forward(xv.as_tensor())
                        .unwrap()
                };
                // A loss whose gradient differs per position.
                let r = Tensor::arange(0f32, y.elem_count() as f32, d)
                    .unwrap()
                    .reshape(y.shape())
                    .unwrap()
                    .sin()
                    .unwrap();
                let g = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
                let gx = g.get(xv.as_tensor()).unwrap().clone();
                let gw = g.get(wv.as_tensor()).unwrap().clone();
                (y, gx, gw)
            };
            let (yc, gxc, gwc) = run(&Device::Cpu, false);
            let (yg, gxg, gwg) = run(&gpu, true);
            let what = format!("n{n} {ci}->{co} {s}px k{k} s{stride} p{padding}");
            assert!(rel(&yg, &yc) < 1e-4, "{what}: output {}", rel(&yg, &yc));
            assert!(
                rel(&gxg, &gxc) < 1e-4,
                "{what}: input grad {}",
                rel(&gxg, &gxc)
            );
            assert!(
                rel(&gwg, &gwc) < 1e-4,
                "{what}: kernel grad {}",
                rel(&gwg, &gwc)
            );

            // f16 on the GPU against f32 on the CPU: half precision, f32 accumulation.
            let y16 = conv2d(
                &x.to_device(&gpu).unwrap().to_dtype(DType::F16).unwrap(),
                &w.to_device(&gpu).unwrap().to_dtype(DType::F16).unwrap(),
                p,
                true,
            )
            .unwrap();
            assert!(
                rel(&y16, &yc) < 5e-3,
                "{what}: f16 output {}",
                rel(&y16, &yc)
            );
        }
    }
}
