//! Winograd F(4x4, 3x3) (Lavin & Gray 2016, "Fast Algorithms for Convolutional Neural
//! Networks") for the CPU inference of 3x3, stride-1 convolutions with the reflection pad by 1
//! read in place: the residual blocks' layers, which hold most of the network's work.
//!
//! Each 4x4 block of outputs comes from a 6x6 input tile: the tile and the kernel are taken to
//! the Winograd domain (`B^T d B`, `G g G^T`), multiplied point by point, which for all channels
//! at once is 36 independent GEMMs, and brought back (`A^T m A`). That is 36 multiplies per 16
//! outputs and channel pair where the direct convolution needs 144.
//!
//! The kernel transform depends only on the weights: [`WinogradKernel`] is made once per layer
//! and reused for every frame.

use candle_core::{Result, Tensor};
use rayon::prelude::*;

use crate::ops::cpu_values::{with_values, zeros};
use crate::ops::padding::reflect_index;

/// Outputs per tile side, and the input tile's side (m + r - 1 for the 3x3 kernel).
const M: usize = 4;
const T: usize = 6;
const TT: usize = T * T;

/// Bytes of Winograd-domain input (channels x 36 x tiles) per band of tile rows: bounded, so
/// big frames stay in a few megabytes of cache-friendly work.
const BAND_BYTES: usize = 8 << 20;

/// G, 6x3, for the points 0, 1, -1, 2, -2 and infinity.
const G: [[f32; 3]; T] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// The kernels of one layer in the Winograd domain, `(36, out, in)`: `G g G^T` of each 3x3
/// kernel, point `i*6 + j` of it at `[(i*6 + j) * out * in + o * in + c]`.
#[derive(Debug)]
pub struct WinogradKernel {
    u: Vec<f32>,
    out: usize,
    inp: usize,
}

impl WinogradKernel {
    /// From a `(out, in, 3, 3)` f32 CPU weight; `None` for any other.
    pub fn new(w: &Tensor) -> Result<Option<Self>> {
        let (out, inp, kh, kw) = w.dims4()?;
        if (kh, kw) != (3, 3) || !w.device().is_cpu() || w.dtype() != candle_core::DType::F32 {
            return Ok(None);
        }
        let w = w.contiguous()?;
        Ok(with_values::<f32, _>(&w, |g| {
            let mut u = vec![0f32; TT * out * inp];
            let plane = out * inp;
            for (oc, kernel) in g.chunks_exact(9).enumerate() {
                // G g (6x3), then (G g) G^T (6x6).
                let mut gg = [[0f32; 3]; T];
                for (i, row) in G.iter().enumerate() {
                    for j in 0..3 {
                        gg[i][j] = (0..3).map(|k| row[k] * kernel[k * 3 + j]).sum();
                    }
                }
                for i in 0..T {
                    for (j, gj) in G.iter().enumerate() {
                        u[(i * T + j) * plane + oc] = (0..3).map(|k| gg[i][k] * gj[k]).sum();
                    }
                }
            }
            Self { u, out, inp }
        }))
    }
}

/// `B^T d B` of one 6x6 tile, written in place.
#[inline(always)]
fn input_transform(d: &mut [[f32; T]; T]) {
    // Rows: t = B^T d, then columns: t B.
    for j in 0..T {
        let c = [d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j]];
        let r = bt_mul(c);
        for i in 0..T {
            d[i][j] = r[i];
        }
    }
    for row in d.iter_mut() {
        *row = bt_mul(*row);
    }
}

/// `B^T v` for a 6-vector.
#[inline(always)]
fn bt_mul(v: [f32; T]) -> [f32; T] {
    [
        4.0 * v[0] - 5.0 * v[2] + v[4],
        -4.0 * (v[1] + v[2]) + v[3] + v[4],
        4.0 * (v[1] - v[2]) - v[3] + v[4],
        -2.0 * (v[1] - v[3]) - v[2] + v[4],
        2.0 * (v[1] - v[3]) - v[2] + v[4],
        4.0 * v[1] - 5.0 * v[3] + v[5],
    ]
}

/// `A^T v` for a 6-vector: the 4 outputs.
#[inline(always)]
fn at_mul(v: [f32; T]) -> [f32; M] {
    let (a, b) = (v[1] + v[2], v[1] - v[2]);
    let (c, d) = (v[3] + v[4], v[3] - v[4]);
    [v[0] + a + c, b + 2.0 * d, a + 4.0 * c, b + 8.0 * d + v[5]]
}

/// The 3x3 stride-1 convolution of a `(1, in, h, w)` f32 CPU image reflection-padded by 1,
/// without bias: `(1, out, h, w)`.
pub fn conv3x3_reflect(x: &Tensor, k: &WinogradKernel) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    if n != 1 || c != k.inp || h < 2 || w < 2 {
        candle_core::bail!(
            "winograd conv: input {:?} for a kernel of {} input channels",
            x.dims(),
            k.inp
        );
    }
    let x = x.contiguous()?;
    let out = with_values::<f32, _>(&x, |src| run(src, k, h, w))
        .ok_or_else(|| candle_core::Error::Msg("winograd conv: not an f32 CPU tensor".into()))?;
    Tensor::from_vec(out, (1, k.out, h, w), x.device())
}

fn run(src: &[f32], k: &WinogradKernel, h: usize, w: usize) -> Vec<f32> {
    let (c, o) = (k.inp, k.out);
    let (th, tw) = (h.div_ceil(M), w.div_ceil(M));
    let band = (BAND_BYTES / (TT * c.max(o) * tw * 4)).clamp(1, th);
    let mut dst = zeros::<f32>(o * h * w);
    let mut v = vec![0f32; TT * c * band * tw];
    let mut m = vec![0f32; TT * o * band * tw];
    for tr0 in (0..th).step_by(band) {
        let tiles = BandTiles {
            tr0,
            rows: band.min(th - tr0),
            tw,
        };
        let nt = tiles.count();
        let v = &mut v[..TT * c * nt];
        let m = &mut m[..TT * o * nt];
        scatter_input(src, v, h, w, tiles);
        // One GEMM per Winograd point p: m[p] (o x nt) = u[p] (o x c) * v[:, p] (c x nt), the
        // rows of v[:, p] TT * nt apart (v is channel-major, so the scatter writes each
        // channel's block in one piece).
        let vp0 = SendPtr(v.as_ptr());
        m.par_chunks_mut(o * nt)
            .zip(k.u.par_chunks(o * c))
            .enumerate()
            .for_each(|(p, (mp, up))| unsafe {
                // SAFETY: mp holds o*nt and up o*c values, row-major; v holds c rows of TT*nt,
                // point p's nt values at p*nt within each row, and is only read here.
                let vp = vp0.at(p * nt);
                gemm::gemm(
                    o,
                    nt,
                    c,
                    mp.as_mut_ptr(),
                    1,
                    nt as isize,
                    false,
                    up.as_ptr(),
                    1,
                    c as isize,
                    vp,
                    1,
                    (TT * nt) as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            });
        gather_output(m, &mut dst, o, h, w, tiles);
    }
    dst
}

/// A read-only pointer shared by the GEMM tasks (raw pointers are not `Send`).
#[derive(Clone, Copy)]
struct SendPtr(*const f32);
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}

impl SendPtr {
    /// # Safety
    /// `off` must be within the allocation the pointer came from.
    unsafe fn at(self, off: usize) -> *const f32 {
        self.0.add(off)
    }
}

/// The tiles of a band of tile rows `tr0..tr0 + rows`, `tw` per row: their index within the
/// band and their tile coordinates.
#[derive(Clone, Copy)]
struct BandTiles {
    tr0: usize,
    rows: usize,
    tw: usize,
}

impl BandTiles {
    fn count(self) -> usize {
        self.rows * self.tw
    }

    /// `(t, ty, tx)`: band index, tile row (in the image), tile column.
    fn iter(self) -> impl Iterator<Item = (usize, usize, usize)> {
        (0..self.count()).map(move |t| (t, self.tr0 + t / self.tw, t % self.tw))
    }
}

/// The Winograd-domain input of a band's tiles, `(c, 36, tiles)`.
fn scatter_input(src: &[f32], v: &mut [f32], h: usize, w: usize, tiles: BandTiles) {
    let nt = tiles.count();
    // Padded coordinate p reads pixel p - 1 reflected; past the reflected border (the last
    // tiles' spare rows and columns, whose outputs are cropped) it reads zeros.
    let at = |p: usize, len: usize| (p <= len + 1).then(|| reflect_index(p as isize - 1, len));
    let xs: Vec<Option<usize>> = (0..tiles.tw * M + 2).map(|p| at(p, w)).collect();
    // Each task: one channel, all its tiles of the band, into its 36 rows of v.
    v.par_chunks_mut(TT * nt).enumerate().for_each(|(ci, out)| {
        let plane = &src[ci * h * w..(ci + 1) * h * w];
        let mut d = [[0f32; T]; T];
        for (t, ty, tx) in tiles.iter() {
            for (i, row) in d.iter_mut().enumerate() {
                let y = at(ty * M + i, h);
                for (j, val) in row.iter_mut().enumerate() {
                    *val = match (y, xs[tx * M + j]) {
                        (Some(y), Some(x)) => plane[y * w + x],
                        _ => 0.0,
                    };
                }
            }
            input_transform(&mut d);
            for (p, val) in d.iter().flatten().enumerate() {
                out[p * nt + t] = *val;
            }
        }
    });
}

/// `A^T m A` of every tile of the band, written to its 4x4 block of `dst` (cropped at the
/// image's edge).
fn gather_output(m: &[f32], dst: &mut [f32], o: usize, h: usize, w: usize, tiles: BandTiles) {
    let nt = tiles.count();
    dst.par_chunks_mut(h * w)
        .enumerate()
        .for_each(|(oc, plane)| {
            let mut t6 = [[0f32; T]; M];
            for (t, ty, tx) in tiles.iter() {
                // Rows: A^T m (4x6), then columns: (A^T m) A (4x4).
                for j in 0..T {
                    let col: [f32; T] = std::array::from_fn(|i| m[((i * T + j) * o + oc) * nt + t]);
                    let a = at_mul(col);
                    for i in 0..M {
                        t6[i][j] = a[i];
                    }
                }
                for (i, row) in t6.iter().enumerate() {
                    let y = ty * M + i;
                    if y >= h {
                        break;
                    }
                    let vals = at_mul(*row);
                    let x0 = tx * M;
                    let n = M.min(w - x0);
                    plane[y * w + x0..y * w + x0 + n].copy_from_slice(&vals[..n]);
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::max_rel_diff;
    use crate::ops::padding::ReflectionPad2d;
    use candle_core::{Device, Module};

    fn direct(x: &Tensor, w: &Tensor) -> Tensor {
        ReflectionPad2d(1)
            .forward(x)
            .unwrap()
            .conv2d(w, 0, 1, 1, 1)
            .unwrap()
    }

    #[test]
    fn matches_the_direct_convolution_at_every_size() {
        let dev = Device::Cpu;
        // Sides that are and are not multiples of 4, down to the smallest a reflection by 1
        // allows, and more than one band.
        for &(c, o, h, w) in &[
            (3, 5, 2, 2),
            (4, 4, 5, 7),
            (8, 6, 13, 9),
            (16, 16, 16, 16),
            (32, 24, 31, 17),
        ] {
            let x = Tensor::randn(0f32, 1.0, (1, c, h, w), &dev).unwrap();
            let wt = Tensor::randn(0f32, 0.3, (o, c, 3, 3), &dev).unwrap();
            let k = WinogradKernel::new(&wt).unwrap().unwrap();
            let got = conv3x3_reflect(&x, &k).unwrap();
            let want = direct(&x, &wt);
            let e = max_rel_diff(&got, &want).unwrap();
            assert!(e < 1e-5, "{c}->{o} at {h}x{w}: relative error {e}");
        }
    }

    #[test]
    fn bands_join_without_seams() {
        // Wide enough that a band holds fewer tile rows than the image.
        let dev = Device::Cpu;
        let (c, h, w) = (128, 70, 1100);
        let x = Tensor::randn(0f32, 1.0, (1, c, h, w), &dev).unwrap();
        let wt = Tensor::randn(0f32, 0.05, (c, c, 3, 3), &dev).unwrap();
        let k = WinogradKernel::new(&wt).unwrap().unwrap();
        assert!(BAND_BYTES / (TT * c * w.div_ceil(M) * 4) < h.div_ceil(M));
        let e = max_rel_diff(&conv3x3_reflect(&x, &k).unwrap(), &direct(&x, &wt)).unwrap();
        // 128 channels sum more rounding than the small cases (F(4x4)'s transforms scale
        // values by up to 8 and back); the network's tolerance against PyTorch is 1e-4.
        assert!(e < 4e-5, "relative error {e}");
    }

    #[test]
    fn other_kernels_are_not_taken() {
        let w = Tensor::zeros((4, 4, 5, 5), candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(WinogradKernel::new(&w).unwrap().is_none());
    }
}
