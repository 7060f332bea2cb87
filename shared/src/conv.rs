//! 2-D convolution whose backward pass is built from forward convolutions.
//!
//! candle 0.11 differentiates `conv2d` with `conv_transpose2d`, a direct (naive) kernel
//! on both CPU and CUDA that dominates a training step, and it also computes the kernel
//! gradient of frozen weights (the VGG loss network). Here the forward runs on detached
//! inputs, and a zero-valued custom op carries the gradient: the input gradient is a
//! forward convolution of the (dilated, for stride 2) output gradient with the flipped,
//! transposed kernel, which candle runs as im2col + GEMM; the kernel gradient is skipped
//! when the weights are frozen.

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp2, DType, Layout, Module, Result, Shape, Tensor,
};
use candle_nn::VarBuilder;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvParams {
    pub stride: usize,
    /// Zero padding on every side (the transformer pads by reflection beforehand: 0).
    pub padding: usize,
}

#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    params: ConvParams,
    /// No kernel gradient (weights that are never trained).
    frozen: bool,
}

impl Conv2d {
    pub fn new(weight: Tensor, bias: Option<Tensor>, params: ConvParams, frozen: bool) -> Self {
        Self {
            weight,
            bias,
            params,
            frozen,
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
            Some(b) => y.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1))?),
            None => Ok(y),
        }
    }

    pub fn params(&self) -> ConvParams {
        self.params
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let ConvParams { stride, padding } = self.params;
        // Only build the gradient path when something upstream is being differentiated.
        let needs_grad = x.track_op() || (!self.frozen && self.weight.track_op());
        #[cfg(feature = "cudnn")]
        if x.device().is_cuda() {
            let y = crate::cudnn_conv::conv2d(x, &self.weight, self.params, self.frozen)?;
            return self.add_bias(y);
        }
        // Inference only: training keeps candle's kernel, whose summation order the
        // gradient conformance test (1e-3 against PyTorch's f64) was validated with.
        let mut y = if x.device().is_cpu() && stride == 1 && !needs_grad {
            let (o, _, k, _) = self.weight.dims4()?;
            if o < KN2ROW_MAX_OUT && k > 1 {
                conv2d_kn2row_cpu(&x.detach(), &self.weight.detach(), padding)?
            } else {
                conv2d_im2col_cpu(&x.detach(), &self.weight.detach(), padding)?
            }
        } else {
            x.detach()
                .conv2d(&self.weight.detach(), padding, stride, 1, 1)?
        };
        if needs_grad {
            let op = ConvGrad {
                params: self.params,
                frozen: self.frozen,
            };
            y = (y + x.apply_op2(&self.weight, op)?)?;
        }
        self.add_bias(y)
    }
}

/// Stride-1 convolution on the CPU as im2col + one GEMM per band of output rows.
///
/// candle's CPU conv2d reaches 3-6 GMAC/s on this network's shapes and well under 1 on
/// the 9x9, 32->3 output layer; a plain im2col feeding candle's GEMM is 2-8x faster.
/// Bands keep the column matrix near 16 MB, so 1280x720 frames need no gigabytes.
pub(crate) fn conv2d_im2col_cpu(x: &Tensor, w: &Tensor, padding: usize) -> Result<Tensor> {
    const BAND_BYTES: usize = 16 << 20;
    let x = zero_pad(x, padding)?;
    let (_, c, hp, wp) = x.dims4()?;
    let (o, _, k, _) = w.dims4()?;
    let (h, wd) = (hp + 1 - k, wp + 1 - k);
    let wm = w.reshape((o, c * k * k))?;
    let band = (BAND_BYTES / (c * k * k * wd * x.dtype().size_in_bytes()).max(1)).clamp(1, h);
    by_bands(&x, h, band, |xi, r0, b| {
        // Row index c*k*k + dy*k + dx matches the weight layout.
        let cols = match im2col_band_f32(xi, k, r0, b)? {
            Some(cols) => cols,
            None => {
                let xs = xi.narrow(2, r0, b + k - 1)?;
                let mut views = Vec::with_capacity(k * k);
                for dy in 0..k {
                    for dx in 0..k {
                        views.push(xs.narrow(2, dy, b)?.narrow(3, dx, wd)?);
                    }
                }
                // (1, c, k*k, b, wd)
                Tensor::stack(&views, 2)?.reshape((c * k * k, b * wd))?
            }
        };
        wm.matmul(&cols)?.reshape((1, o, b, wd))
    })
}

/// Zero padding on every side (none: `x` itself).
fn zero_pad(x: &Tensor, padding: usize) -> Result<Tensor> {
    if padding > 0 {
        x.pad_with_zeros(2, padding, padding)?
            .pad_with_zeros(3, padding, padding)
    } else {
        Ok(x.clone())
    }
}

/// Runs `band(image, r0, rows)` for each image of the batch `x` and each band of at most
/// `band_rows` of its `h` output rows, and joins the `(1, o, rows, w)` results into
/// `(n, o, h, w)`.
fn by_bands(
    x: &Tensor,
    h: usize,
    band_rows: usize,
    band: impl Fn(&Tensor, usize, usize) -> Result<Tensor>,
) -> Result<Tensor> {
    let n = x.dim(0)?;
    let mut images = Vec::with_capacity(n);
    for i in 0..n {
        let xi = x.narrow(0, i, 1)?;
        let mut bands = Vec::with_capacity(h.div_ceil(band_rows));
        let mut r0 = 0;
        while r0 < h {
            let b = band_rows.min(h - r0);
            bands.push(band(&xi, r0, b)?);
            r0 += b;
        }
        // (cat of one tensor returns it without a copy)
        images.push(Tensor::cat(&bands, 2)?);
    }
    Tensor::cat(&images, 0)
}

/// The column matrix of output rows `r0..r0 + b` of a `(1, c, hp, wp)` f32 image on the CPU,
/// `(c*k*k, b*wd)`, built by copying image rows straight into place. candle's stack of the
/// k*k shifted views takes a generic strided copy instead (the 3 -> 32, 9x9 input layer spent
/// most of its time there). `None` for other dtypes, devices or layouts.
fn im2col_band_f32(xi: &Tensor, k: usize, r0: usize, b: usize) -> Result<Option<Tensor>> {
    let (_, c, hp, wp) = xi.dims4()?;
    let wd = wp + 1 - k;
    let (storage, layout) = xi.storage_and_layout();
    let src = match (&*storage, layout.contiguous_offsets()) {
        (candle_core::Storage::Cpu(CpuStorage::F32(v)), Some((start, end))) => &v[start..end],
        _ => return Ok(None),
    };
    let mut cols = Vec::with_capacity(c * k * k * b * wd);
    for ci in 0..c {
        for dy in 0..k {
            for dx in 0..k {
                for yy in 0..b {
                    let at = (ci * hp + r0 + yy + dy) * wp + dx;
                    cols.extend_from_slice(&src[at..at + wd]);
                }
            }
        }
    }
    drop(storage);
    Ok(Some(Tensor::from_vec(
        cols,
        (c * k * k, b * wd),
        xi.device(),
    )?))
}

/// Below this many output channels the kn2row form beats im2col (the 32 -> 3, 9x9 output
/// layer: im2col's GEMM has only 3 rows and the column matrix is 81x the input).
const KN2ROW_MAX_OUT: usize = 8;

/// Stride-1 convolution on the CPU as "kn2row": one GEMM of every kernel tap against the
/// input, `(o*k*k, c) x (c, pixels)`, then the k*k tap planes shifted and summed.
///
/// For few output channels this keeps the GEMM well shaped (o*k*k rows, not o) and never
/// builds the k*k-times-larger column matrix. Bands of output rows keep the tap planes near
/// 16 MB.
fn conv2d_kn2row_cpu(x: &Tensor, w: &Tensor, padding: usize) -> Result<Tensor> {
    const BAND_BYTES: usize = 16 << 20;
    let x = zero_pad(x, padding)?;
    let (_, c, hp, wp) = x.dims4()?;
    let (o, _, k, _) = w.dims4()?;
    let (h, wd) = (hp + 1 - k, wp + 1 - k);
    // (o, c, k, k) -> (o*k*k, c): row (oi*k + dy)*k + dx holds tap (dy, dx) of output oi.
    let taps = w
        .permute((0, 2, 3, 1))?
        .contiguous()?
        .reshape((o * k * k, c))?;
    let row_bytes = o * k * k * wp * x.dtype().size_in_bytes();
    let band = (BAND_BYTES / row_bytes.max(1))
        .saturating_sub(k - 1)
        .clamp(1, h);
    by_bands(&x, h, band, |xi, r0, b| {
        let rows = b + k - 1;
        let xs = xi.narrow(2, r0, rows)?.reshape((c, rows * wp))?;
        let planes = taps.matmul(&xs)?.reshape((o, k, k, rows, wp))?;
        let mut acc: Option<Tensor> = None;
        for dy in 0..k {
            for dx in 0..k {
                let p = planes
                    .narrow(1, dy, 1)?
                    .narrow(2, dx, 1)?
                    .narrow(3, dy, b)?
                    .narrow(4, dx, wd)?;
                acc = Some(match acc {
                    None => p.contiguous()?,
                    Some(a) => (a + p)?,
                });
            }
        }
        acc.expect("k > 0 taps").reshape((1, o, b, wd))
    })
}

/// Zero in the forward pass; the convolution's gradients in the backward pass.
struct ConvGrad {
    params: ConvParams,
    frozen: bool,
}

impl ConvGrad {
    fn out_shape(&self, l1: &Layout, l2: &Layout) -> Result<Shape> {
        let (n, _, h, w) = l1.shape().dims4()?;
        let (o, _, kh, kw) = l2.shape().dims4()?;
        let ConvParams { stride, padding } = self.params;
        let ho = (h + 2 * padding - kh) / stride + 1;
        let wo = (w + 2 * padding - kw) / stride + 1;
        Ok(Shape::from((n, o, ho, wo)))
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
        let grad_x = if x.track_op() {
            // Full correlation of the (dilated) gradient with the flipped, transposed kernel.
            let wt = flip(&flip(&w.detach().transpose(0, 1)?, 2)?, 3)?.contiguous()?;
            let gd = dilate(&dilate(&g, 2, stride)?, 3, stride)?;
            let gx = gd.conv2d(&wt, k - 1 - padding, 1, 1, 1)?;
            // Rows/columns that no output window reached (stride 2, odd remainder) get zero.
            let (_, _, gh, gw) = gx.dims4()?;
            let gx = if gh < h {
                gx.pad_with_zeros(2, 0, h - gh)?
            } else {
                gx
            };
            let gx = if gw < wd {
                gx.pad_with_zeros(3, 0, wd - gw)?
            } else {
                gx
            };
            Some(gx)
        } else {
            None
        };
        let grad_w = if !self.frozen && w.track_op() {
            // As candle computes it: correlate the input with the output gradient.
            let gw = x
                .detach()
                .transpose(0, 1)?
                .conv2d(&g.transpose(0, 1)?, padding, 1, stride, 1)?
                .transpose(0, 1)?;
            let (_, _, a, b) = gw.dims4()?;
            let gw = if a != k || b != k {
                gw.narrow(2, 0, k)?.narrow(3, 0, k)?
            } else {
                gw
            };
            Some(gw)
        } else {
            None
        };
        Ok((grad_x, grad_w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::max_rel;
    use candle_core::Device;

    /// The CPU inference paths against candle's conv2d, with padding, odd sizes, a batch,
    /// and sizes that take several bands.
    #[test]
    fn cpu_inference_paths_match_candle() -> Result<()> {
        let cases = [
            // (n, c, o, h, w, k, padding)
            (2, 5, 3, 11, 13, 9, 0),
            (1, 32, 3, 40, 36, 9, 4),
            (1, 4, 7, 9, 8, 3, 1),
            (2, 6, 16, 10, 7, 3, 0),
        ];
        for (n, c, o, h, w, k, p) in cases {
            let x = Tensor::randn(0f32, 1.0, (n, c, h, w), &Device::Cpu)?;
            let wt = Tensor::randn(0f32, 1.0, (o, c, k, k), &Device::Cpu)?;
            let want = x.conv2d(&wt, p, 1, 1, 1)?;
            let a = conv2d_im2col_cpu(&x, &wt, p)?;
            let b = conv2d_kn2row_cpu(&x, &wt, p)?;
            assert_eq!(a.dims(), want.dims());
            assert_eq!(b.dims(), want.dims());
            assert!(
                max_rel(&a, &want) < 1e-5,
                "im2col {:?}",
                (n, c, o, h, w, k, p)
            );
            assert!(
                max_rel(&b, &want) < 1e-5,
                "kn2row {:?}",
                (n, c, o, h, w, k, p)
            );
        }
        Ok(())
    }

    /// Many bands: a tall image whose tap planes exceed one 16 MB band.
    #[test]
    fn kn2row_bands_join_seamlessly() -> Result<()> {
        let x = Tensor::randn(0f32, 1.0, (1, 8, 200, 300), &Device::Cpu)?;
        let wt = Tensor::randn(0f32, 1.0, (3, 8, 9, 9), &Device::Cpu)?;
        let want = x.conv2d(&wt, 0, 1, 1, 1)?;
        let got = conv2d_kn2row_cpu(&x, &wt, 0)?;
        assert!(max_rel(&got, &want) < 1e-5);
        Ok(())
    }
}
