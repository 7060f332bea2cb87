//! 2-D convolution with its own CPU paths and a backward pass built from GEMMs and forward
//! convolutions.
//!
//! candle 0.11 differentiates `conv2d` with `conv_transpose2d`, a direct (naive) kernel
//! on both CPU and CUDA that dominates a training step, and it also computes the kernel
//! gradient of frozen weights (the VGG loss network). Here the forward runs on detached
//! inputs, and a zero-valued custom op carries the gradient. The input gradient is a
//! forward convolution of the (dilated, for stride 2) output gradient with the flipped,
//! transposed kernel, except strided ones on the CPU, which are col2im; the kernel gradient
//! is one GEMM per band of the input's column matrix on the CPU, a convolution of the
//! transposed input elsewhere, and skipped when the weights are frozen. On the CPU (f32,
//! f64) the forward and every convolution above run as banded im2col + GEMM (or kn2row for
//! few output channels) with the zero padding implicit. A trained bias is added detached
//! too and its gradient (the output gradient summed per channel) comes from the same op:
//! candle's own, the backward of a broadcast, summed over batch and pixels with a
//! per-element index loop (7% of a CPU training step).

use candle_core::{
    backend::BackendStorage, CpuStorage, CustomOp2, CustomOp3, DType, Layout, Module, Result,
    Shape, Tensor, WithDType,
};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use crate::cpu_values::{has_kernel, run_on_tensors, with_values, zeros, Kernel};

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
}

impl Conv2d {
    /// The convolution; `bias_needed`: whether the result must include the bias even when
    /// nothing is differentiated. A layer that an instance norm follows passes `false`: the
    /// norm subtracts any per-channel constant again (a pass over the activation saved).
    /// With gradients the bias is always added, so that it gets its (zero) gradient.
    pub(crate) fn forward_with(&self, x: &Tensor, bias_needed: bool) -> Result<Tensor> {
        let ConvParams { stride, padding } = self.params;
        // Only build the gradient path when something upstream is being differentiated.
        let needs_grad = x.track_op() || (!self.frozen && self.weight.track_op());
        // cuDNN takes the dtypes the network runs in on CUDA; others keep candle's path.
        #[cfg(feature = "cudnn")]
        if x.device().is_cuda() && matches!(x.dtype(), DType::F32 | DType::F16) {
            let y = crate::cudnn_conv::conv2d(x, &self.weight, self.params, self.frozen)?;
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

/// The CPU's own convolution paths (forward, and the gradients' convolutions): kn2row for
/// few output channels, else banded im2col + GEMM. `None` where candle's conv2d is used
/// instead: other devices, and strided convolutions in dtypes other than f32 and f64.
///
/// candle's CPU conv2d reached 3-10 GMAC/s on this network's shapes and well under 1 on
/// the 9x9, 32->3 output layer; these reach 30-65 (BENCHMARKS.md).
fn conv2d_cpu(x: &Tensor, w: &Tensor, params: ConvParams) -> Result<Option<Tensor>> {
    if !x.device().is_cpu() {
        return Ok(None);
    }
    let (o, _, k, _) = w.dims4()?;
    let ConvParams { stride, padding } = params;
    if stride == 1 && o < KN2ROW_MAX_OUT && k > 1 {
        return conv2d_kn2row_cpu(x, w, padding).map(Some);
    }
    if stride == 1 || has_kernel(x) {
        return conv2d_im2col_cpu(x, w, params).map(Some);
    }
    Ok(None)
}

/// Bytes of column matrix (or tap planes) per band of output rows: bounded, so 1280x720
/// frames and 256x256 VGG batches need no gigabytes.
const BAND_BYTES: usize = 16 << 20;

/// Output size of a valid convolution of `len` padded pixels with a `k` kernel.
fn out_len(len: usize, k: usize, stride: usize) -> usize {
    (len - k) / stride + 1
}

/// Convolution on the CPU as im2col + one GEMM per band of output rows.
pub(crate) fn conv2d_im2col_cpu(x: &Tensor, w: &Tensor, params: ConvParams) -> Result<Tensor> {
    let (o, c, k, _) = w.dims4()?;
    let wm = w.reshape((o, c * k * k))?;
    if has_kernel(x) {
        let x = x.contiguous()?;
        return im2col_gemm(&x, &wm, Windows::new(&x, k, params)?);
    }
    // Other dtypes (f16): stack the k*k shifted views of the padded image (stride 1 only,
    // see `conv2d_cpu`).
    let x = zero_pad(x, params.padding)?;
    let (_, _, hp, wp) = x.dims4()?;
    let (h, wd) = (hp + 1 - k, wp + 1 - k);
    let band = im2col_band_rows(c * k * k, wd, x.dtype(), h);
    by_bands(&x, h, band, |xi, r0, b| {
        let xs = xi.narrow(2, r0, b + k - 1)?;
        let mut views = Vec::with_capacity(k * k);
        for dy in 0..k {
            for dx in 0..k {
                views.push(xs.narrow(2, dy, b)?.narrow(3, dx, wd)?);
            }
        }
        // (1, c, k*k, b, wd)
        let cols = Tensor::stack(&views, 2)?.reshape((c * k * k, b * wd))?;
        wm.matmul(&cols)?.reshape((1, o, b, wd))
    })
}

/// `ConvParams { stride, padding: pad }` on `x` reflection-padded by `pad` (PyTorch's
/// `ReflectionPad2d` then the convolution), for inference on the CPU: the column matrix
/// reads the reflected pixels in place, so no padded copy of `x` is made. `None` where
/// this path does not apply (gradients, other devices and dtypes, the kn2row shapes): pad
/// explicitly then.
pub(crate) fn conv2d_reflect_padded_cpu(
    x: &Tensor,
    w: &Tensor,
    stride: usize,
    pad: usize,
) -> Result<Option<Tensor>> {
    let (o, c, k, _) = w.dims4()?;
    let (_, _, h, wd) = x.dims4()?;
    let kn2row = stride == 1 && o < KN2ROW_MAX_OUT && k > 1;
    // (a reflection wider than the image folds more than once: left to the padding op)
    if !has_kernel(x) || x.track_op() || w.track_op() || kn2row || pad >= h.min(wd) {
        return Ok(None);
    }
    let x = x.contiguous()?;
    let params = ConvParams {
        stride,
        padding: pad,
    };
    let win = Windows {
        reflect: true,
        ..Windows::new(&x, k, params)?
    };
    im2col_gemm(&x, &w.reshape((o, c * k * k))?, win).map(Some)
}

/// im2col + GEMM for a contiguous f32/f64 CPU image with the weights as an `(o, c*k*k)`
/// matrix.
fn im2col_gemm(x: &Tensor, wm: &Tensor, win: Windows) -> Result<Tensor> {
    let o = wm.dim(0)?;
    let band = im2col_band_rows(wm.dim(1)?, win.wo, x.dtype(), win.ho);
    by_bands(x, win.ho, band, |xi, r0, b| {
        let cols = im2col_band_direct(xi, &win, r0, b)?;
        wm.matmul(&cols)?.reshape((1, o, b, win.wo))
    })
}

/// Output rows per band for a column matrix of `rows` rows and `wd` output columns.
fn im2col_band_rows(rows: usize, wd: usize, dtype: DType, h: usize) -> usize {
    (BAND_BYTES / (rows * wd * dtype.size_in_bytes()).max(1)).clamp(1, h)
}

/// Where a convolution's windows fall on its unpadded `(c, h, w)` input: the padding is
/// implicit (no padded copy of the input is made), and `(ho, wo)` is the output size.
#[derive(Debug, Clone, Copy)]
struct Windows {
    c: usize,
    h: usize,
    w: usize,
    k: usize,
    stride: usize,
    padding: usize,
    /// Padding by reflection (inference only, see [`conv2d_reflect_padded_cpu`]), not zeros.
    reflect: bool,
    ho: usize,
    wo: usize,
}

impl Windows {
    fn new(x: &Tensor, k: usize, params: ConvParams) -> Result<Self> {
        let (_, c, h, w) = x.dims4()?;
        Ok(Self::of((c, h, w), k, params))
    }

    /// For an input of `(c, h, w)`.
    fn of((c, h, w): (usize, usize, usize), k: usize, params: ConvParams) -> Self {
        let ConvParams { stride, padding } = params;
        Self {
            c,
            h,
            w,
            k,
            stride,
            padding,
            reflect: false,
            ho: out_len(h + 2 * padding, k, stride),
            wo: out_len(w + 2 * padding, k, stride),
        }
    }

    /// The input index that tap `d` of output `o` reads along an axis of `len` pixels, or
    /// `None` in zero padding.
    fn source(&self, o: usize, d: usize, len: usize) -> Option<usize> {
        let i = (o * self.stride + d) as isize - self.padding as isize;
        if self.reflect {
            return Some(crate::padding::reflect_index(i, len));
        }
        usize::try_from(i).ok().filter(|&i| i < len)
    }

    /// The outputs `first..end` along the columns whose tap `dx` reads a pixel inside the
    /// input (the others read the padding).
    fn columns(&self, dx: usize) -> (usize, usize) {
        let (s, p) = (self.stride, self.padding);
        let first = p.saturating_sub(dx).div_ceil(s).min(self.wo);
        let end = if self.w + p > dx {
            ((self.w + p - dx - 1) / s + 1).min(self.wo)
        } else {
            0
        };
        (first, end.max(first))
    }
}

/// The column matrix of output rows `r0..r0 + b` of a contiguous `(1, c, h, w)` f32/f64 CPU
/// image, `(c*k*k, b*wo)`, with row `c*k*k + dy*k + dx` matching the weight layout, built by
/// copying image rows straight into place (zeros, or the reflected pixels, where a window
/// covers the padding).
/// candle's stack of the k*k shifted views takes a generic strided copy instead (the 3 -> 32,
/// 9x9 input layer spent most of its time there).
fn im2col_band_direct(xi: &Tensor, win: &Windows, r0: usize, b: usize) -> Result<Tensor> {
    fn fill<T: WithDType>(src: &[T], win: &Windows, r0: usize, b: usize) -> Vec<T> {
        let &Windows {
            h,
            w,
            k,
            stride,
            wo,
            ..
        } = win;
        let zero = T::from_f64(0.0);
        let mut cols = zeros(win.c * k * k * b * wo);
        // One task per (channel, tap): the copy ran on one thread while the GEMM used all,
        // a fifth of a small-network frame.
        cols.par_chunks_mut(b * wo)
            .enumerate()
            .for_each(|(row_block, dst)| {
                let (ci, tap) = (row_block / (k * k), row_block % (k * k));
                let (dy, dx) = (tap / k, tap % k);
                let (first, end) = win.columns(dx);
                for (yy, out) in dst.chunks_exact_mut(wo).enumerate() {
                    // (rows wholly in zero padding stay zero)
                    let Some(iy) = win.source(r0 + yy, dy, h) else {
                        continue;
                    };
                    let row = &src[(ci * h + iy) * w..][..w];
                    for ox in (0..first).chain(end..wo) {
                        out[ox] = win.source(ox, dx, w).map_or(zero, |ix| row[ix]);
                    }
                    if first < end {
                        let inside = &row[first * stride + dx - win.padding..];
                        let out = &mut out[first..end];
                        if stride == 1 {
                            out.copy_from_slice(&inside[..out.len()]);
                        } else {
                            for (j, v) in out.iter_mut().enumerate() {
                                *v = inside[j * stride];
                            }
                        }
                    }
                }
            });
        cols
    }
    let rows = win.c * win.k * win.k;
    let (dev, shape) = (xi.device(), (rows, b * win.wo));
    let cols = match xi.dtype() {
        DType::F32 => with_values(xi, |src| fill::<f32>(src, win, r0, b))
            .map(|v| Tensor::from_vec(v, shape, dev)),
        DType::F64 => with_values(xi, |src| fill::<f64>(src, win, r0, b))
            .map(|v| Tensor::from_vec(v, shape, dev)),
        _ => None,
    };
    match cols {
        Some(cols) => cols,
        None => candle_core::bail!(
            "im2col: needs a contiguous f32/f64 CPU image, got {:?} on {:?}",
            xi.dtype(),
            xi.device()
        ),
    }
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

/// `(image, r0, rows)` for each image of a batch of `n` and each band of at most
/// `band_rows` of its `h` output rows.
fn bands(n: usize, h: usize, band_rows: usize) -> impl Iterator<Item = (usize, usize, usize)> {
    (0..n).flat_map(move |i| {
        (0..h)
            .step_by(band_rows)
            .map(move |r0| (i, r0, band_rows.min(h - r0)))
    })
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
    let mut current = Vec::new();
    for (i, r0, b) in bands(n, h, band_rows) {
        current.push(band(&x.narrow(0, i, 1)?, r0, b)?);
        if r0 + b == h {
            // (cat of one tensor returns it without a copy)
            images.push(Tensor::cat(&current, 2)?);
            current.clear();
        }
    }
    Tensor::cat(&images, 0)
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
        let planes = taps.matmul(&xs)?;
        if has_kernel(&planes) {
            let shape = TapPlanes { o, k, b, wp, wd };
            return run_on_tensors(&shape, &[&planes], &Shape::from((1, o, b, wd)));
        }
        let planes = planes.reshape((o, k, k, rows, wp))?;
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

/// The kn2row tap planes of one band, `(o, k, k, b + k - 1, wp)`: output `(oi, y, x)` is the
/// sum over taps `(dy, dx)` of plane `(oi, dy, dx)` at `(y + dy, x + dx)`.
struct TapPlanes {
    o: usize,
    k: usize,
    b: usize,
    wp: usize,
    wd: usize,
}

/// The shifted planes summed in one pass over output rows (candle's adds of strided views
/// took longer than the GEMM).
impl Kernel for TapPlanes {
    fn run<T: WithDType>(&self, inputs: &[&[T]]) -> Vec<T> {
        let planes = inputs[0];
        let TapPlanes { o, k, b, wp, wd } = *self;
        let rows = b + k - 1;
        let mut out = zeros(o * b * wd);
        out.par_chunks_mut(wd).enumerate().for_each(|(row, dst)| {
            let (oi, y) = (row / b, row % b);
            for dy in 0..k {
                for dx in 0..k {
                    let plane = ((oi * k + dy) * k + dx) * rows;
                    let src = &planes[(plane + y + dy) * wp + dx..][..wd];
                    for (d, &s) in dst.iter_mut().zip(src) {
                        *d += s;
                    }
                }
            }
        });
        out
    }
}

/// Kernel gradient of a convolution on the CPU, f32 or f64: for each image and band of
/// output rows, the band's column matrix `(c*k*k, rows*wo)` times the output gradient
/// transposed, one GEMM each, summed, transposed once at the end. `None` for other dtypes.
///
/// Written the other way round, `(o, rows*wo) x (rows*wo, c*k*k)`, the product is the same
/// but the `gemm` crate ran it 3-8x slower on these shapes (a few output rows against a very
/// long inner dimension: 13 against 125 GMAC/s for 32 x 576 over 8192 pixels).
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
            let w = w.detach();
            // A stride-1 input gradient is a convolution with `c` output channels; for few
            // (VGG's RGB input: 64 -> 3) col2im is 6x faster than that convolution's kn2row.
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
        let grad_w = if !self.frozen && w.track_op() {
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
            let a = conv2d_im2col_cpu(
                &x,
                &wt,
                ConvParams {
                    stride: 1,
                    padding: p,
                },
            )?;
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

    /// Reflection read in place by the column matrix equals an explicit reflection pad then
    /// candle's convolution: the network's shapes (9x9 pad 4, 3x3 pad 1 at strides 1 and
    /// 2), odd sizes, a 2-pixel plane (the smallest the network makes) and a batch.
    #[test]
    fn reflection_in_the_column_matrix_matches_padding_first() -> Result<()> {
        let cases = [
            // (n, c, o, h, w, k, stride)
            (1, 3, 16, 21, 17, 9, 1),
            (2, 8, 16, 9, 12, 3, 1),
            (1, 8, 16, 11, 10, 3, 2),
            (1, 16, 8, 2, 3, 3, 1),
            (1, 16, 8, 2, 2, 3, 2),
        ];
        for (n, c, o, h, w, k, stride) in cases {
            let x = Tensor::randn(0f32, 1.0, (n, c, h, w), &Device::Cpu)?;
            let wt = Tensor::randn(0f32, 1.0, (o, c, k, k), &Device::Cpu)?;
            let pad = k / 2;
            let padded = crate::padding::reflection_pad2d(&x, pad, pad, pad, pad)?;
            let want = padded.conv2d(&wt, 0, stride, 1, 1)?;
            let got = conv2d_reflect_padded_cpu(&x, &wt, stride, pad)?.expect("CPU f32 path");
            let case = (n, c, o, h, w, k, stride);
            assert_eq!(got.dims(), want.dims(), "{case:?}");
            assert!(max_rel(&got, &want) < 1e-5, "{case:?}");
        }
        // Where it does not apply, the caller pads: gradients, and a pad the plane cannot
        // reflect once.
        let x = Tensor::randn(0f32, 1.0, (1, 4, 3, 3), &Device::Cpu)?;
        let wt = Tensor::randn(0f32, 1.0, (16, 4, 9, 9), &Device::Cpu)?;
        assert!(conv2d_reflect_padded_cpu(&x, &wt, 1, 4)?.is_none());
        let v = candle_core::Var::from_tensor(&x.pad_with_same(2, 4, 4)?)?;
        assert!(conv2d_reflect_padded_cpu(v.as_tensor(), &wt, 1, 4)?.is_none());
        Ok(())
    }

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
        let (ho, wo) = (out_len(hp, k, stride), out_len(wp, k, stride));
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
            let (ho, wo) = (
                out_len(h + 2 * padding, k, stride),
                out_len(w + 2 * padding, k, stride),
            );
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
