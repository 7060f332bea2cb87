//! Dense optical flow, for the temporal metric of `eval --video` (warp_error.rs): TV-L1
//! (Zach, Pock & Bischof 2007) as Sánchez, Meinhardt-Llopis & Facciolo describe it (IPOL
//! 2013): coarse to fine over a Gaussian pyramid, several warps per level, each a loop of a
//! pointwise thresholding step for the L1 data term and a dual (Chambolle) step for the
//! total variation of the flow. TV-L1 keeps motion boundaries sharp and is robust to the
//! small brightness changes of real footage, which the consistency check then relies on.
//!
//! Written here because crates.io has no maintained pure-Rust dense flow (rustflow wraps
//! C++ and has one release from 2020, optical-flow-lk tracks sparse points, opencv binds
//! the C++ library). Interpolation is bilinear (IPOL's is bicubic); borders are clamped.

use image::RgbImage;

/// A grey image in 0-255 levels, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn zeros(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }

    /// Luma (BT.601 weights) of an RGB picture.
    pub fn luma(img: &RgbImage) -> Self {
        let data = img
            .pixels()
            .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
            .collect();
        Self {
            width: img.width() as usize,
            height: img.height() as usize,
            data,
        }
    }

    /// Bilinear sample at `(x, y)` in pixel coordinates, the edges extended outwards.
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        bilinear(&self.data, self.width, self.height, x, y)
    }
}

/// Bilinear sample of a row-major `w x h` grid at `(x, y)`, the edges extended outwards.
pub fn bilinear(data: &[f32], w: usize, h: usize, x: f32, y: f32) -> f32 {
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = data[y0 * w + x0] * (1.0 - fx) + data[y0 * w + x1] * fx;
    let bottom = data[y1 * w + x0] * (1.0 - fx) + data[y1 * w + x1] * fx;
    top * (1.0 - fy) + bottom * fy
}

/// A displacement per pixel: pixel `(x, y)` of the first image is seen at
/// `(x + u, y + v)` in the second.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub width: usize,
    pub height: usize,
    pub u: Vec<f32>,
    pub v: Vec<f32>,
}

impl Flow {
    pub fn zeros(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            u: vec![0.0; width * height],
            v: vec![0.0; width * height],
        }
    }

    pub fn at(&self, x: usize, y: usize) -> (f32, f32) {
        let i = y * self.width + x;
        (self.u[i], self.v[i])
    }

    /// The flow interpolated at a point between pixels.
    pub fn sample(&self, x: f32, y: f32) -> (f32, f32) {
        (
            bilinear(&self.u, self.width, self.height, x, y),
            bilinear(&self.v, self.width, self.height, x, y),
        )
    }

    /// The flow resampled to `width x height`, its vectors scaled with the picture.
    fn resized(&self, width: usize, height: usize) -> Flow {
        let (sx, sy) = (
            self.width as f32 / width as f32,
            self.height as f32 / height as f32,
        );
        let mut out = Flow::zeros(width, height);
        for y in 0..height {
            for x in 0..width {
                let (u, v) = self.sample((x as f32 + 0.5) * sx - 0.5, (y as f32 + 0.5) * sy - 0.5);
                out.u[y * width + x] = u / sx;
                out.v[y * width + x] = v / sy;
            }
        }
        out
    }
}

/// TV-L1's settings; the defaults are IPOL's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TvL1 {
    /// Weight of the data term against smoothness: lower gives smoother flow.
    pub lambda: f32,
    /// Coupling between the data and smoothness variables.
    pub theta: f32,
    /// Time step of the dual update (at most 0.25 for convergence).
    pub tau: f32,
    /// Pyramid levels at most (fewer when the coarsest would be under 16 pixels across).
    pub max_scales: usize,
    /// Each level's image shrink, 0.5 halves it.
    pub zoom: f32,
    /// Times the second image is re-warped by the current flow on each level.
    pub warps: usize,
    /// A warp's loop stops when the flow's mean squared change falls below this squared.
    pub epsilon: f32,
    pub max_iterations: usize,
    /// The Gaussian both images are smoothed with first (sigma, pixels).
    pub presmooth: f32,
}

impl Default for TvL1 {
    fn default() -> Self {
        Self {
            lambda: 0.15,
            theta: 0.3,
            tau: 0.25,
            max_scales: 5,
            zoom: 0.5,
            warps: 5,
            epsilon: 0.01,
            max_iterations: 300,
            presmooth: 0.8,
        }
    }
}

/// Separable Gaussian blur with the edges extended.
fn gaussian(p: &Plane, sigma: f32) -> Plane {
    if sigma <= 0.0 {
        return p.clone();
    }
    let r = (3.0 * sigma).ceil() as isize;
    let mut k: Vec<f32> = (-r..=r)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    let (w, h) = (p.width as isize, p.height as isize);
    let mut tmp = Plane::zeros(p.width, p.height);
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (j, kv) in k.iter().enumerate() {
                let xx = (x + j as isize - r).clamp(0, w - 1);
                acc += kv * p.data[(y * w + xx) as usize];
            }
            tmp.data[(y * w + x) as usize] = acc;
        }
    }
    let mut out = Plane::zeros(p.width, p.height);
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (j, kv) in k.iter().enumerate() {
                let yy = (y + j as isize - r).clamp(0, h - 1);
                acc += kv * tmp.data[(yy * w + x) as usize];
            }
            out.data[(y * w + x) as usize] = acc;
        }
    }
    out
}

/// The next pyramid level: smoothed against aliasing, then sampled at `zoom`.
fn shrink(p: &Plane, zoom: f32) -> Plane {
    let sigma = 0.6 * (1.0 / (zoom * zoom) - 1.0).sqrt();
    let blurred = gaussian(p, sigma);
    let w = ((p.width as f32 * zoom).round() as usize).max(1);
    let h = ((p.height as f32 * zoom).round() as usize).max(1);
    let (sx, sy) = (p.width as f32 / w as f32, p.height as f32 / h as f32);
    let mut out = Plane::zeros(w, h);
    for y in 0..h {
        for x in 0..w {
            out.data[y * w + x] =
                blurred.sample((x as f32 + 0.5) * sx - 0.5, (y as f32 + 0.5) * sy - 0.5);
        }
    }
    out
}

/// Central differences inside, one-sided at the edges.
fn centred_gradient(p: &Plane) -> (Vec<f32>, Vec<f32>) {
    let (w, h) = (p.width, p.height);
    let d = &p.data;
    let mut gx = vec![0.0; w * h];
    let mut gy = vec![0.0; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let (xl, xr) = (x.saturating_sub(1), (x + 1).min(w - 1));
            let (yu, yd) = (y.saturating_sub(1), (y + 1).min(h - 1));
            if xr > xl {
                gx[i] = (d[y * w + xr] - d[y * w + xl]) / (xr - xl) as f32;
            }
            if yd > yu {
                gy[i] = (d[yd * w + x] - d[yu * w + x]) / (yd - yu) as f32;
            }
        }
    }
    (gx, gy)
}

/// Forward differences, 0 on the last column and row (the adjoint of `divergence`).
fn forward_gradient(f: &[f32], w: usize, h: usize, gx: &mut [f32], gy: &mut [f32]) {
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            gx[i] = if x + 1 < w { f[i + 1] - f[i] } else { 0.0 };
            gy[i] = if y + 1 < h { f[i + w] - f[i] } else { 0.0 };
        }
    }
}

/// Backward differences of a vector field, minus the adjoint of `forward_gradient`.
fn divergence(px: &[f32], py: &[f32], w: usize, h: usize, div: &mut [f32]) {
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let dx = if x + 1 < w { px[i] } else { 0.0 } - if x > 0 { px[i - 1] } else { 0.0 };
            let dy = if y + 1 < h { py[i] } else { 0.0 } - if y > 0 { py[i - w] } else { 0.0 };
            div[i] = dx + dy;
        }
    }
}

impl TvL1 {
    /// The flow from `i0` to `i1` (same size): where each pixel of `i0` is seen in `i1`.
    pub fn flow(&self, i0: &Plane, i1: &Plane) -> Flow {
        assert_eq!(
            (i0.width, i0.height),
            (i1.width, i1.height),
            "flow between pictures of different sizes"
        );
        let diag = ((i0.width * i0.width + i0.height * i0.height) as f32).sqrt();
        // The coarsest level keeps at least 16 pixels across its diagonal.
        let fit = 1 + ((diag / 16.0).max(1.0).ln() / (1.0 / self.zoom).ln()) as usize;
        let scales = self.max_scales.clamp(1, fit.max(1));
        let mut p0 = vec![gaussian(i0, self.presmooth)];
        let mut p1 = vec![gaussian(i1, self.presmooth)];
        for s in 1..scales {
            let (a, b) = (shrink(&p0[s - 1], self.zoom), shrink(&p1[s - 1], self.zoom));
            if a.width < 2 || a.height < 2 {
                break;
            }
            p0.push(a);
            p1.push(b);
        }
        let coarsest = p0.len() - 1;
        let mut flow = Flow::zeros(p0[coarsest].width, p0[coarsest].height);
        for s in (0..p0.len()).rev() {
            if (flow.width, flow.height) != (p0[s].width, p0[s].height) {
                flow = flow.resized(p0[s].width, p0[s].height);
            }
            self.refine(&p0[s], &p1[s], &mut flow);
        }
        flow
    }

    /// One pyramid level: `warps` linearisations of the data term around the current flow.
    fn refine(&self, i0: &Plane, i1: &Plane, flow: &mut Flow) {
        let (w, h) = (i0.width, i0.height);
        let n = w * h;
        let (i1x, i1y) = centred_gradient(i1);
        let lt = self.lambda * self.theta;
        let taut = self.tau / self.theta;
        let (mut p11, mut p12, mut p21, mut p22) =
            (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let (mut v1, mut v2) = (vec![0.0; n], vec![0.0; n]);
        let (mut div1, mut div2) = (vec![0.0; n], vec![0.0; n]);
        let (mut u1x, mut u1y, mut u2x, mut u2y) =
            (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let (mut wx, mut wy, mut grad, mut rho_c) =
            (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let (u1, u2) = (&mut flow.u, &mut flow.v);
        for _ in 0..self.warps {
            // I1 and its gradient at x + u, and the data term's constant part there.
            for y in 0..h {
                for x in 0..w {
                    let i = y * w + x;
                    let (sx, sy) = (x as f32 + u1[i], y as f32 + u2[i]);
                    let iw = i1.sample(sx, sy);
                    wx[i] = bilinear(&i1x, w, h, sx, sy);
                    wy[i] = bilinear(&i1y, w, h, sx, sy);
                    grad[i] = wx[i] * wx[i] + wy[i] * wy[i];
                    rho_c[i] = iw - wx[i] * u1[i] - wy[i] * u2[i] - i0.data[i];
                }
            }
            let stop = self.epsilon * self.epsilon;
            for _ in 0..self.max_iterations {
                // Thresholding: the data term's minimiser next to the current flow.
                for i in 0..n {
                    let rho = rho_c[i] + wx[i] * u1[i] + wy[i] * u2[i];
                    let g = grad[i];
                    let (d1, d2) = if rho < -lt * g {
                        (lt * wx[i], lt * wy[i])
                    } else if rho > lt * g {
                        (-lt * wx[i], -lt * wy[i])
                    } else if g > 1e-10 {
                        (-rho / g * wx[i], -rho / g * wy[i])
                    } else {
                        (0.0, 0.0)
                    };
                    v1[i] = u1[i] + d1;
                    v2[i] = u2[i] + d2;
                }
                divergence(&p11, &p12, w, h, &mut div1);
                divergence(&p21, &p22, w, h, &mut div2);
                let mut change = 0.0f64;
                for i in 0..n {
                    let (a, b) = (v1[i] + self.theta * div1[i], v2[i] + self.theta * div2[i]);
                    change += ((a - u1[i]) * (a - u1[i]) + (b - u2[i]) * (b - u2[i])) as f64;
                    u1[i] = a;
                    u2[i] = b;
                }
                // The dual step: the flow's total variation.
                forward_gradient(u1, w, h, &mut u1x, &mut u1y);
                forward_gradient(u2, w, h, &mut u2x, &mut u2y);
                for i in 0..n {
                    let ng1 = 1.0 + taut * (u1x[i] * u1x[i] + u1y[i] * u1y[i]).sqrt();
                    let ng2 = 1.0 + taut * (u2x[i] * u2x[i] + u2y[i] * u2y[i]).sqrt();
                    p11[i] = (p11[i] + taut * u1x[i]) / ng1;
                    p12[i] = (p12[i] + taut * u1y[i]) / ng1;
                    p21[i] = (p21[i] + taut * u2x[i]) / ng2;
                    p22[i] = (p22[i] + taut * u2y[i]) / ng2;
                }
                if change / (n as f64) < stop as f64 {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::FilterType;

    /// A textured photo at `4 * (w, h)`, for making exactly shifted small frames from.
    fn big_photo(w: u32, h: u32) -> RgbImage {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/content/test/chicago.jpg");
        let img = stylecast::io::image::load_rgb(&path).expect("test photo");
        image::imageops::resize(&img, 4 * w + 64, 4 * h + 64, FilterType::Triangle)
    }

    /// The `w x h` frame whose top-left corner sits at `(ox, oy)` quarter pixels into the
    /// big photo: frames at different offsets differ by an exact shift of offset / 4 pixels.
    fn frame(big: &RgbImage, w: u32, h: u32, ox: u32, oy: u32) -> Plane {
        let crop = image::imageops::crop_imm(big, ox, oy, 4 * w, 4 * h).to_image();
        // A box average of each 4x4 block: the shift survives without interpolation blur.
        let mut out = RgbImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let mut acc = [0u32; 3];
                for dy in 0..4 {
                    for dx in 0..4 {
                        let p = crop.get_pixel(4 * x + dx, 4 * y + dy);
                        (0..3).for_each(|c| acc[c] += p[c] as u32);
                    }
                }
                out.put_pixel(x, y, image::Rgb(acc.map(|a| (a / 16) as u8)));
            }
        }
        Plane::luma(&out)
    }

    /// Mean end-point error against a uniform flow, and the share of interior pixels
    /// (8 px margin) off by more than a pixel.
    fn epe(f: &Flow, (tu, tv): (f32, f32)) -> (f32, f32) {
        let m = 8;
        let (mut sum, mut bad, mut n) = (0.0, 0, 0);
        for y in m..f.height - m {
            for x in m..f.width - m {
                let (u, v) = f.at(x, y);
                let e = ((u - tu).powi(2) + (v - tv).powi(2)).sqrt();
                sum += e;
                bad += (e > 1.0) as usize;
                n += 1;
            }
        }
        (sum / n as f32, bad as f32 / n as f32)
    }

    #[test]
    fn integer_and_subpixel_shifts_are_recovered() {
        let (w, h) = (80, 64);
        let big = big_photo(w, h);
        let base = frame(&big, w, h, 32, 32);
        // Offsets in quarter pixels: (dx, dy) of the second frame's window; the content
        // then moves by minus that.
        for (dx, dy) in [(8i32, 4i32), (-2, 3), (12, -10), (1, 0)] {
            let moved = frame(&big, w, h, (32 + dx) as u32, (32 + dy) as u32);
            let truth = (-dx as f32 / 4.0, -dy as f32 / 4.0);
            let f = TvL1::default().flow(&base, &moved);
            let (mean, bad) = epe(&f, truth);
            assert!(
                mean < 0.15 && bad < 0.02,
                "shift {truth:?}: end-point error {mean:.3} px, {:.1}% over 1 px",
                bad * 100.0
            );
            // Backwards: the opposite flow.
            let (mean, _) = epe(&TvL1::default().flow(&moved, &base), (-truth.0, -truth.1));
            assert!(mean < 0.15, "shift {truth:?} backwards: {mean:.3} px");
        }
    }

    #[test]
    fn still_frames_have_no_flow_and_a_big_shift_needs_the_pyramid() {
        let (w, h) = (80, 64);
        let big = big_photo(w, h);
        let base = frame(&big, w, h, 32, 32);
        let (mean, _) = epe(&TvL1::default().flow(&base, &base), (0.0, 0.0));
        assert!(mean < 0.01, "{mean}");
        // 5 px: beyond one linearisation, found coarse to fine.
        let moved = frame(&big, w, h, 52, 32);
        let (mean, _) = epe(&TvL1::default().flow(&base, &moved), (-5.0, 0.0));
        assert!(mean < 0.2, "{mean}");
        let one_level = TvL1 {
            max_scales: 1,
            ..TvL1::default()
        };
        let (flat, _) = epe(&one_level.flow(&base, &moved), (-5.0, 0.0));
        assert!(flat > 3.0 * mean, "without the pyramid {flat}, with {mean}");
    }
}
