//! Nearest x2 upsample + 1-pixel reflection pad + 3x3 convolution, computed without the
//! upsampled image (CPU inference).
//!
//! Every output pixel `(2i + a, 2j + b)` of the upsample-then-convolve layer sees only two
//! distinct rows and two distinct columns of the original image, because neighbouring
//! upsampled rows repeat. So each of the four output phases `(a, b)` is a 2x2 convolution
//! of the original image with a kernel made by summing taps of the 3x3 one: 16 instead of
//! 36 multiply-adds per input pixel and channel, and the im2col matrix is built from the
//! small image. Reflecting the upsampled image by one pixel equals replicating the
//! original by one pixel (the repeated border row is its own mirror), so the padding
//! becomes a replicate pad of the input.

use candle_core::{Result, Shape, Tensor, WithDType};
use rayon::prelude::*;

use crate::ops::cpu_values::{has_kernel, run_on_tensors, zeros, Kernel};

/// `conv(reflection_pad(upsample_nearest2x(x), 1), w)` for a `(o, c, 3, 3)` kernel `w`,
/// without bias. `conv2x2` runs a valid, stride-1 convolution (here with 2x2 kernels).
pub fn upsample2x_conv3x3(
    x: &Tensor,
    w: &Tensor,
    conv2x2: impl Fn(&Tensor, &Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let (n, _, h, wd) = x.dims4()?;
    let o = w.dim(0)?;
    // Row (dim 2) then column (dim 3) taps for phase 0: [k0, k1 + k2]; phase 1: [k0 + k1, k2].
    let fold = |t: &Tensor, dim: usize, phase: usize| -> Result<Tensor> {
        let k = |i| t.narrow(dim, i, 1);
        let (first, second) = if phase == 0 {
            (k(0)?, (k(1)? + k(2)?)?)
        } else {
            ((k(0)? + k(1)?)?, k(2)?)
        };
        Tensor::cat(&[first, second], dim)
    };
    let r = x.pad_with_same(2, 1, 1)?.pad_with_same(3, 1, 1)?;
    // All four phase kernels in one convolution (one GEMM with 4o rows, one im2col of the
    // small image): phase (a, b) reads the result shifted by (a, b).
    let mut kernels = Vec::with_capacity(4);
    for a in 0..2 {
        let wa = fold(w, 2, a)?;
        for b in 0..2 {
            kernels.push(fold(&wa, 3, b)?);
        }
    }
    let z = conv2x2(&r, &Tensor::cat(&kernels, 0)?.contiguous()?)?;
    if has_kernel(&z) {
        let weave = PhaseWeave { n, o, h, wd };
        return run_on_tensors(&weave, &[&z], &Shape::from((n, o, 2 * h, 2 * wd)));
    }
    let phase = |a: usize, b: usize| -> Result<Tensor> {
        z.narrow(1, (2 * a + b) * o, o)?
            .narrow(2, a, h)?
            .narrow(3, b, wd)
    };
    let mut rows = Vec::with_capacity(2);
    for a in 0..2 {
        // (n, o, h, w, 2) -> (n, o, h, 2w): phase b interleaved along the columns.
        let cols = [phase(a, 0)?, phase(a, 1)?];
        rows.push(Tensor::stack(&cols, 4)?.reshape((n, o, h, 2 * wd))?);
    }
    // (n, o, h, 2, 2w) -> (n, o, 2h, 2w): phase a interleaved along the rows.
    Tensor::stack(&rows, 3)?.reshape((n, o, 2 * h, 2 * wd))
}

/// The four phase planes `z`, `(n, 4o, h + 1, w + 1)`, woven into `(n, o, 2h, 2w)` in one
/// pass: output `(2i + a, 2j + b)` of channel `c` is `z[(2a + b)o + c](i + a, j + b)`.
/// (candle's stack of strided views took as long as the layer's GEMM.)
struct PhaseWeave {
    n: usize,
    o: usize,
    h: usize,
    wd: usize,
}

impl Kernel for PhaseWeave {
    fn run<T: WithDType>(&self, inputs: &[&[T]]) -> Vec<T> {
        let z = inputs[0];
        let PhaseWeave { n, o, h, wd } = *self;
        let (zh, zw) = (h + 1, wd + 1);
        let plane =
            |ni: usize, p: usize, c: usize| &z[((ni * 4 + p) * o + c) * zh * zw..][..zh * zw];
        let mut out = zeros(n * o * 4 * h * wd);
        out.par_chunks_mut(4 * h * wd)
            .enumerate()
            .for_each(|(nc, dst)| {
                let (ni, c) = (nc / o, nc % o);
                for a in 0..2 {
                    let (p0, p1) = (plane(ni, 2 * a, c), plane(ni, 2 * a + 1, c));
                    for i in 0..h {
                        let row = &mut dst[(2 * i + a) * 2 * wd..][..2 * wd];
                        let r0 = &p0[(i + a) * zw..][..wd];
                        let r1 = &p1[(i + a) * zw + 1..][..wd];
                        for ((pair, &v0), &v1) in row.chunks_exact_mut(2).zip(r0).zip(r1) {
                            pair[0] = v0;
                            pair[1] = v1;
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
    use crate::ops::padding::reflection_pad2d;
    use crate::ops::upsample::upsample_nearest2x;
    use crate::test_util::max_rel;
    use candle_core::{DType, Device};

    #[test]
    fn equals_upsample_pad_conv() -> Result<()> {
        let conv = |x: &Tensor, w: &Tensor| x.conv2d(w, 0, 1, 1, 1);
        // f32 and f64 take the one-pass interleave, f16 candle's stack of views.
        for (dtype, tol) in [(DType::F32, 1e-5), (DType::F64, 1e-12), (DType::F16, 1e-2)] {
            for (n, c, o, h, w) in [(1, 3, 4, 5, 7), (2, 8, 6, 1, 2), (1, 16, 8, 6, 6)] {
                let x = Tensor::randn(0f32, 1.0, (n, c, h, w), &Device::Cpu)?.to_dtype(dtype)?;
                let k = Tensor::randn(0f32, 1.0, (o, c, 3, 3), &Device::Cpu)?.to_dtype(dtype)?;
                let up = upsample_nearest2x(&x)?;
                let want = conv(&reflection_pad2d(&up, 1, 1, 1, 1)?, &k)?;
                let got = upsample2x_conv3x3(&x, &k, conv)?;
                assert_eq!(got.dims(), want.dims());
                assert_eq!(got.dtype(), dtype);
                let err = max_rel(&got, &want);
                assert!(
                    err <= tol,
                    "{dtype:?} {n}x{c}x{h}x{w} -> {o}: relative error {err}"
                );
            }
        }
        Ok(())
    }
}
