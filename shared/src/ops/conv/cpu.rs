//! The CPU's convolution kernels (f32, f64): banded im2col + GEMM with the padding implicit
//! (zeros, or a reflection read in place), and kn2row for few output channels. The forward
//! pass and the gradients' convolutions run here; candle's conv2d is the fallback.

use candle_core::{DType, Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use super::params::ConvParams;
use crate::ops::cpu_values::{has_kernel, run_on_tensors, with_values, zeros, Kernel};
use crate::ops::padding::reflect_index;

/// The CPU's own convolution paths (forward, and the gradients' convolutions): kn2row for
/// few output channels, else banded im2col + GEMM. `None` where candle's conv2d is used
/// instead: other devices, and strided convolutions in dtypes other than f32 and f64.
/// candle's CPU conv2d is several times slower on this network's shapes (BENCHMARKS.md).
pub(super) fn conv2d_cpu(x: &Tensor, w: &Tensor, params: ConvParams) -> Result<Option<Tensor>> {
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
pub(super) fn im2col_band_rows(rows: usize, wd: usize, dtype: DType, h: usize) -> usize {
    (BAND_BYTES / (rows * wd * dtype.size_in_bytes()).max(1)).clamp(1, h)
}

/// Where a convolution's windows fall on its unpadded `(c, h, w)` input: the padding is
/// implicit (no padded copy of the input is made), and `(ho, wo)` is the output size.
#[derive(Debug, Clone, Copy)]
pub(super) struct Windows {
    pub(super) c: usize,
    pub(super) h: usize,
    pub(super) w: usize,
    pub(super) k: usize,
    pub(super) stride: usize,
    pub(super) padding: usize,
    /// Padding by reflection (inference only, see [`conv2d_reflect_padded_cpu`]), not zeros.
    pub(super) reflect: bool,
    pub(super) ho: usize,
    pub(super) wo: usize,
}

impl Windows {
    pub(super) fn new(x: &Tensor, k: usize, params: ConvParams) -> Result<Self> {
        let (_, c, h, w) = x.dims4()?;
        Ok(Self::of((c, h, w), k, params))
    }

    /// For an input of `(c, h, w)`.
    pub(super) fn of((c, h, w): (usize, usize, usize), k: usize, params: ConvParams) -> Self {
        let ConvParams { stride, padding } = params;
        Self {
            c,
            h,
            w,
            k,
            stride,
            padding,
            reflect: false,
            ho: params.out_len(h, k),
            wo: params.out_len(w, k),
        }
    }

    /// The input index that tap `d` of output `o` reads along an axis of `len` pixels, or
    /// `None` in zero padding.
    pub(super) fn source(&self, o: usize, d: usize, len: usize) -> Option<usize> {
        let i = (o * self.stride + d) as isize - self.padding as isize;
        if self.reflect {
            return Some(reflect_index(i, len));
        }
        usize::try_from(i).ok().filter(|&i| i < len)
    }

    /// The outputs `first..end` along the columns whose tap `dx` reads a pixel inside the
    /// input (the others read the padding).
    pub(super) fn columns(&self, dx: usize) -> (usize, usize) {
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
pub(super) fn im2col_band_direct(
    xi: &Tensor,
    win: &Windows,
    r0: usize,
    b: usize,
) -> Result<Tensor> {
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
        // One task per (channel, tap): on one thread the copy left the other cores idle.
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
pub(super) fn zero_pad(x: &Tensor, padding: usize) -> Result<Tensor> {
    if padding > 0 {
        x.pad_with_zeros(2, padding, padding)?
            .pad_with_zeros(3, padding, padding)
    } else {
        Ok(x.clone())
    }
}

/// `(image, r0, rows)` for each image of a batch of `n` and each band of at most
/// `band_rows` of its `h` output rows.
pub(super) fn bands(
    n: usize,
    h: usize,
    band_rows: usize,
) -> impl Iterator<Item = (usize, usize, usize)> {
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
pub(super) const KN2ROW_MAX_OUT: usize = 8;

/// Stride-1 convolution on the CPU as "kn2row": one GEMM of every kernel tap against the
/// input, `(o*k*k, c) x (c, pixels)`, then the k*k tap planes shifted and summed.
///
/// For few output channels this keeps the GEMM well shaped (o*k*k rows, not o) and never
/// builds the k*k-times-larger column matrix. Bands of output rows keep the tap planes near
/// 16 MB.
pub(super) fn conv2d_kn2row_cpu(x: &Tensor, w: &Tensor, padding: usize) -> Result<Tensor> {
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
            let padded = crate::ops::padding::reflection_pad2d(&x, pad, pad, pad, pad)?;
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
