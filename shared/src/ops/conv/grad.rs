//! The convolution's gradient op: zero in the forward pass, the input and kernel (and bias)
//! gradients in the backward pass, with its CPU kernels. The input gradient is a forward
//! convolution of the (dilated, for a stride) output gradient with the flipped, transposed
//! kernel, except where col2im is cheaper (strides, few input channels on the CPU); the
//! kernel gradient is one GEMM per band of the input's column matrix on the CPU, a
//! convolution of the transposed input elsewhere, and skipped for frozen weights. A trained
//! bias gets its gradient (the output gradient summed per channel) from the same op:
//! candle's, the backward of a broadcast, sums with a per-element index loop.

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp2, CustomOp3, DType, Layout, Result, Shape,
    Tensor, WithDType,
};

use super::cpu::{
    bands, conv2d_cpu, im2col_band_direct, im2col_band_rows, Windows, KN2ROW_MAX_OUT,
};
use super::params::{ConvParams, GradsWanted};
use crate::ops::cpu_values::{has_kernel, with_values, zeros};

/// Kernel gradient of a convolution on the CPU, f32 or f64: for each image and band of
/// output rows, the band's column matrix `(c*k*k, rows*wo)` times the output gradient
/// transposed, one GEMM each, summed, transposed once at the end. `None` for other dtypes.
///
/// Written the other way round, `(o, rows*wo) x (rows*wo, c*k*k)`, the product is the same
/// but the `gemm` crate runs it several times slower (a few output rows against a very long
/// inner dimension, BENCHMARKS.md).
fn conv2d_grad_weight_cpu(
    x: &Tensor,
    g: &Tensor,
    k: usize,
    params: ConvParams,
) -> Result<Option<Tensor>> {
    if !has_kernel(x) {
        return Ok(None);
    }
    let x = x.contiguous()?;
    let win = Windows::new(&x, k, params)?;
    let (n, o, c) = (x.dim(0)?, g.dim(1)?, win.c);
    let band = im2col_band_rows(c * k * k, win.wo, x.dtype(), win.ho);
    let mut acc: Option<Tensor> = None;
    for (i, r0, b) in bands(n, win.ho, band) {
        let cols = im2col_band_direct(&x.narrow(0, i, 1)?, &win, r0, b)?;
        let gbt = g
            .narrow(0, i, 1)?
            .narrow(2, r0, b)?
            .contiguous()?
            .reshape((o, b * win.wo))?
            .t()?
            .contiguous()?;
        let part = cols.matmul(&gbt)?;
        acc = Some(match acc {
            None => part,
            Some(a) => (a + part)?,
        });
    }
    acc.expect("a non-empty batch")
        .t()?
        .contiguous()?
        .reshape((o, c, k, k))
        .map(Some)
}

/// Input gradient of a convolution on the CPU, f32 or f64, as col2im: for each image and
/// band of output rows, the kernel transposed times the output gradient gives the column
/// matrix's gradient, which is added back onto the pixels it was copied from. Used for
/// strides and for few input channels; other stride-1 input gradients are a convolution
/// (see [`ConvGrad::bwd`]). `None` for other dtypes.
fn conv2d_grad_input_col2im_cpu(
    g: &Tensor,
    w: &Tensor,
    params: ConvParams,
    input_hw: (usize, usize),
) -> Result<Option<Tensor>> {
    if !g.device().is_cpu() {
        return Ok(None);
    }
    match g.dtype() {
        DType::F32 => col2im_grad_input::<f32>(g, w, params, input_hw).map(Some),
        DType::F64 => col2im_grad_input::<f64>(g, w, params, input_hw).map(Some),
        _ => Ok(None),
    }
}

fn col2im_grad_input<T: WithDType>(
    g: &Tensor,
    w: &Tensor,
    params: ConvParams,
    (h, wd): (usize, usize),
) -> Result<Tensor> {
    let (n, o, ho, wo) = g.dims4()?;
    let (_, c, k, _) = w.dims4()?;
    let win = Windows::of((c, h, wd), k, params);
    let wt = w.reshape((o, c * k * k))?.t()?.contiguous()?;
    let band = im2col_band_rows(c * k * k, wo, g.dtype(), ho);
    let mut images = Vec::with_capacity(n);
    let mut gx = zeros::<T>(c * h * wd);
    for (i, r0, b) in bands(n, ho, band) {
        let gb = g
            .narrow(0, i, 1)?
            .narrow(2, r0, b)?
            .contiguous()?
            .reshape((o, b * wo))?;
        let cols = wt.matmul(&gb)?;
        with_values::<T, _>(&cols, |cols| {
            for (row, src) in cols.chunks_exact(b * wo).enumerate() {
                let (ci, dy, dx) = (row / (k * k), row / k % k, row % k);
                let (first, end) = win.columns(dx);
                for (yy, src) in src.chunks_exact(wo).enumerate() {
                    // Gradient that fell on the padding is dropped.
                    let Some(iy) = win.source(r0 + yy, dy, h) else {
                        continue;
                    };
                    let at = (ci * h + iy) * wd + dx;
                    for (xx, &v) in src.iter().enumerate().take(end).skip(first) {
                        gx[at + xx * win.stride - win.padding] += v;
                    }
                }
            }
        })
        .expect("matmul gives a contiguous CPU tensor of its inputs' dtype");
        if r0 + b == ho {
            let done = std::mem::replace(&mut gx, zeros(c * h * wd));
            images.push(Tensor::from_vec(done, (1, c, h, wd), g.device())?);
        }
    }
    Tensor::cat(&images, 0)
}

/// Zero in the forward pass; the convolution's gradients in the backward pass. Applied to
/// `(x, w)`, or `(x, w, bias)` for a trained bias.
pub(super) struct ConvGrad {
    pub params: ConvParams,
    pub frozen: bool,
}

impl ConvGrad {
    fn out_shape(&self, l1: &Layout, l2: &Layout) -> Result<Shape> {
        let dims4 = |l: &Layout| -> Result<[usize; 4]> {
            let (a, b, c, d) = l.shape().dims4()?;
            Ok([a, b, c, d])
        };
        Ok(Shape::from(
            self.params.out_dims(dims4(l1)?, dims4(l2)?)?.to_vec(),
        ))
    }
}

/// Inserts `s - 1` zeros between neighbouring elements along `dim` (a transposed stride).
fn dilate(x: &Tensor, dim: usize, s: usize) -> Result<Tensor> {
    if s == 1 {
        return Ok(x.clone());
    }
    let n = x.dim(dim)?;
    let x1 = x.unsqueeze(dim + 1)?;
    let mut parts = vec![x1.clone()];
    let zeros = x1.zeros_like()?;
    for _ in 1..s {
        parts.push(zeros.clone());
    }
    let mut shape = x.dims().to_vec();
    shape[dim] = n * s;
    Tensor::cat(&parts, dim + 1)?
        .reshape(shape)?
        .narrow(dim, 0, (n - 1) * s + 1)
}

fn flip(x: &Tensor, dim: usize) -> Result<Tensor> {
    let n = x.dim(dim)?;
    let idx: Vec<u32> = (0..n as u32).rev().collect();
    x.contiguous()?
        .index_select(&Tensor::new(idx.as_slice(), x.device())?, dim)
}

impl CustomOp2 for ConvGrad {
    fn name(&self) -> &'static str {
        "conv2d-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        _: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let shape = self.out_shape(l1, l2)?;
        let n = shape.elem_count();
        let st = match s1.dtype() {
            DType::F32 => CpuStorage::F32(vec![0.0; n]),
            DType::F64 => CpuStorage::F64(vec![0.0; n]),
            DType::F16 => CpuStorage::F16(vec![half::f16::ZERO; n]),
            DType::BF16 => CpuStorage::BF16(vec![half::bf16::ZERO; n]),
            d => candle_core::bail!("conv2d-grad: unsupported dtype {d:?}"),
        };
        Ok((st, shape))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        _: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use candle_core::backend::BackendDevice;
        let shape = self.out_shape(l1, l2)?;
        let st = s1.device.zeros_impl(&shape, s1.dtype())?;
        Ok((st, shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let ConvParams { stride, padding } = self.params;
        let (_, _, h, wd) = x.dims4()?;
        let (_, _, k, _) = w.dims4()?;
        let g = g.contiguous()?;
        let wanted = GradsWanted::of(x, w, self.frozen);
        let grad_x = if wanted.input {
            let w = w.detach();
            // A stride-1 input gradient is a convolution with `c` output channels; for few
            // (VGG's RGB input: 64 -> 3) col2im is faster than that convolution's kn2row.
            let gx = if stride == 1 && x.dim(1)? >= KN2ROW_MAX_OUT {
                None
            } else {
                conv2d_grad_input_col2im_cpu(&g, &w, self.params, (h, wd))?
            };
            Some(match gx {
                Some(gx) => gx,
                None => grad_input_by_correlation(&g, &w, self.params, (h, wd))?,
            })
        } else {
            None
        };
        let grad_w = if wanted.kernel {
            let x = x.detach();
            Some(match conv2d_grad_weight_cpu(&x, &g, k, self.params)? {
                Some(gw) => gw,
                None => {
                    // As candle computes it: correlate the input with the output gradient.
                    let gw = x
                        .transpose(0, 1)?
                        .conv2d(&g.transpose(0, 1)?, padding, 1, stride, 1)?
                        .transpose(0, 1)?;
                    let (_, _, a, b) = gw.dims4()?;
                    if a != k || b != k {
                        gw.narrow(2, 0, k)?.narrow(3, 0, k)?
                    } else {
                        gw
                    }
                }
            })
        } else {
            None
        };
        Ok((grad_x, grad_w))
    }
}

/// The same op with the bias as a third argument, whose gradient is the output gradient
/// summed over batch and pixels (as trailing-dimension sums, candle's fast reduction).
impl CustomOp3 for ConvGrad {
    fn name(&self) -> &'static str {
        "conv2d-bias-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        CustomOp2::cpu_fwd(self, s1, l1, s2, l2)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        CustomOp2::cuda_fwd(self, s1, l1, s2, l2)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = g.contiguous()?;
        let (gx, gw) = CustomOp2::bwd(self, x, w, res, &g)?;
        // Row sums, then column sums, then the batch: short running sums keep f32 accurate
        // over a whole image (one running sum of 2e5 pixels lost 6e-4); half precision is
        // summed in f32.
        let acc = match g.dtype() {
            DType::F16 | DType::BF16 => DType::F32,
            d => d,
        };
        let gb = g
            .to_dtype(acc)?
            .sum(3)?
            .sum(2)?
            .sum(0)?
            .to_dtype(g.dtype())?;
        Ok((gx, gw, Some(gb)))
    }
}

/// Input gradient as the full correlation of the (dilated, for a stride) output gradient
/// with the flipped, transposed kernel: a forward convolution, on the CPU's own paths where
/// they apply.
fn grad_input_by_correlation(
    g: &Tensor,
    w: &Tensor,
    params: ConvParams,
    (h, wd): (usize, usize),
) -> Result<Tensor> {
    let ConvParams { stride, padding } = params;
    let (_, _, ho, wo) = g.dims4()?;
    let k = w.dim(2)?;
    let wt = flip(&flip(&w.transpose(0, 1)?, 2)?, 3)?.contiguous()?;
    let gd = dilate(&dilate(g, 2, stride)?, 3, stride)?;
    // The full correlation covers padded rows 0..(ho-1)*stride + k; the input's rows are
    // padded rows p..p+h. Where the windows reach the padded end, skipping the padding
    // costs nothing; otherwise (a stride's remainder) the last real rows lie beyond the
    // full correlation's crop, so compute it whole and cut.
    let covers =
        (ho - 1) * stride + k == h + 2 * padding && (wo - 1) * stride + k == wd + 2 * padding;
    let skip = if covers { padding } else { 0 };
    let p = ConvParams {
        stride: 1,
        padding: k - 1 - skip,
    };
    let gx = match conv2d_cpu(&gd, &wt, p)? {
        Some(gx) => gx,
        None => gd.conv2d(&wt, p.padding, 1, 1, 1)?,
    };
    let from = padding - skip;
    let (_, _, gh, gw) = gx.dims4()?;
    let (rows, cols) = ((gh - from).min(h), (gw - from).min(wd));
    // Rows/columns that no output window reached get zero.
    gx.narrow(2, from, rows)?
        .narrow(3, from, cols)?
        .pad_with_zeros(2, 0, h - rows)?
        .pad_with_zeros(3, 0, wd - cols)
}
