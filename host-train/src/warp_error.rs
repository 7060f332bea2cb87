//! The warping error of Lai et al. 2018 ("Learning Blind Video Temporal Consistency"): how
//! much an output video changes from frame to frame beyond what the scene's own motion
//! explains. The flow is computed on the INPUT frames (flow.rs), both ways, and only pixels
//! where the two agree count (their forward-backward check and motion-boundary term), so
//! occlusions and flow failures are left out. Then per frame t: the mean of
//! |O_t - warp(O_{t-1})| over those pixels, where warp(O_{t-1}) samples the previous output
//! where the flow says each pixel came from.

use image::RgbImage;
use rayon::prelude::*;

use crate::flow::{bilinear, Flow, Plane, TvL1};

/// Where each pixel of frame t came from in frame t-1, and whether that is trusted.
#[derive(Debug, Clone)]
pub struct Correspondence {
    pub width: usize,
    pub height: usize,
    /// `(x, y)` in frame t-1 for each pixel of frame t, row-major.
    pub source: Vec<(f32, f32)>,
    /// The flow is consistent there: not occluded, not on a motion boundary, inside.
    pub valid: Vec<bool>,
}

impl Correspondence {
    /// From the input frames t-1 and t, with flow both ways.
    pub fn new(prev: &Plane, cur: &Plane, tvl1: &TvL1) -> Self {
        let (back, fwd) = rayon::join(|| tvl1.flow(cur, prev), || tvl1.flow(prev, cur));
        Self::from_flows(&back, &fwd)
    }

    /// `back`: frame t to t-1; `fwd`: frame t-1 to t. Lai et al.'s tests, with their
    /// constants (squared magnitudes, pixels): occluded where
    /// |b + f(x + b)|^2 > 0.01 (|b|^2 + |f(x + b)|^2) + 0.5, a motion boundary where
    /// |grad b_u|^2 + |grad b_v|^2 > 0.01 |b|^2 + 0.002 (forward differences).
    pub fn from_flows(back: &Flow, fwd: &Flow) -> Self {
        let (w, h) = (back.width, back.height);
        let mut source = Vec::with_capacity(w * h);
        let mut valid = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                let (bu, bv) = back.at(x, y);
                let (sx, sy) = (x as f32 + bu, y as f32 + bv);
                source.push((sx, sy));
                let inside = sx >= 0.0 && sy >= 0.0 && sx <= (w - 1) as f32 && sy <= (h - 1) as f32;
                let (fu, fv) = fwd.sample(sx, sy);
                let b2 = bu * bu + bv * bv;
                let f2 = fu * fu + fv * fv;
                let sum2 = (bu + fu).powi(2) + (bv + fv).powi(2);
                let occluded = sum2 > 0.01 * (b2 + f2) + 0.5;
                let (nu, nv) = back.at((x + 1).min(w - 1), y);
                let (du, dv) = back.at(x, (y + 1).min(h - 1));
                let grad2 =
                    (nu - bu).powi(2) + (du - bu).powi(2) + (nv - bv).powi(2) + (dv - bv).powi(2);
                let boundary = grad2 > 0.01 * b2 + 0.002;
                valid.push(inside && !occluded && !boundary);
            }
        }
        Self {
            width: w,
            height: h,
            source,
            valid,
        }
    }

    /// The share of pixels that count.
    pub fn coverage(&self) -> f64 {
        self.valid.iter().filter(|&&v| v).count() as f64 / self.valid.len().max(1) as f64
    }
}

/// One frame pair's error over the trusted pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairError {
    /// Mean |O_t - warp(O_{t-1})| per channel, 0-255 levels.
    pub mean_abs: f64,
    /// Lai et al.'s own form: the squared difference of 0-1 values summed over the three
    /// channels, averaged over the pixels.
    pub mse: f64,
}

/// The error between the previous and current output, or `None` when no pixel is trusted.
pub fn pair_error(prev: &RgbImage, cur: &RgbImage, c: &Correspondence) -> Option<PairError> {
    let (w, h) = (c.width, c.height);
    assert_eq!(
        (prev.dimensions(), cur.dimensions()),
        ((w as u32, h as u32), (w as u32, h as u32)),
        "outputs and flow of different sizes"
    );
    // The previous output as three planes, for sampling between pixels.
    let planes: Vec<Vec<f32>> = (0..3)
        .map(|ch| prev.pixels().map(|p| p[ch] as f32).collect())
        .collect();
    let (abs, sq, n) = (0..h)
        .into_par_iter()
        .map(|y| {
            let (mut abs, mut sq, mut n) = (0.0f64, 0.0f64, 0usize);
            for x in 0..w {
                let i = y * w + x;
                if !c.valid[i] {
                    continue;
                }
                let (sx, sy) = c.source[i];
                let p = cur.get_pixel(x as u32, y as u32);
                for (ch, plane) in planes.iter().enumerate() {
                    let d = (p[ch] as f32 - bilinear(plane, w, h, sx, sy)) as f64;
                    abs += d.abs();
                    sq += (d / 255.0) * (d / 255.0);
                }
                n += 1;
            }
            (abs, sq, n)
        })
        .reduce(|| (0.0, 0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
    (n > 0).then(|| PairError {
        mean_abs: abs / (3 * n) as f64,
        mse: sq / n as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::imageops::FilterType;
    use rand::{Rng, SeedableRng};

    fn photo() -> RgbImage {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/content/test/tubingen.jpg");
        let img = stylecast::io::image::load_rgb(&path).expect("test photo");
        image::imageops::resize(&img, 160, 120, FilterType::Triangle)
    }

    /// A smooth pan: frame k is the photo's 64x48 window `k` pixels further right.
    fn pan(n: u32) -> Vec<RgbImage> {
        let p = photo();
        (0..n)
            .map(|k| image::imageops::crop_imm(&p, 20 + k, 30, 64, 48).to_image())
            .collect()
    }

    /// The mean error over the sequence's pairs.
    fn sequence_error(inputs: &[RgbImage], outputs: &[RgbImage]) -> f64 {
        let tvl1 = TvL1::default();
        let mut total = 0.0;
        for t in 1..inputs.len() {
            let c = Correspondence::new(
                &Plane::luma(&inputs[t - 1]),
                &Plane::luma(&inputs[t]),
                &tvl1,
            );
            assert!(c.coverage() > 0.7, "pair {t}: {:.2}", c.coverage());
            total += pair_error(&outputs[t - 1], &outputs[t], &c)
                .unwrap()
                .mean_abs;
        }
        total / (inputs.len() - 1) as f64
    }

    #[test]
    fn jitter_in_the_output_scores_worse_than_a_steady_pan() {
        let frames = pan(5);
        // Steady: the output is the input (it moves exactly with the scene).
        let steady = sequence_error(&frames, &frames);
        // Jittered: each output frame nudged by a random pixel and given noise, as a
        // network that repaints its strokes differently each frame would.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let p = photo();
        let jittered: Vec<RgbImage> = (0..frames.len() as u32)
            .map(|k| {
                let (jx, jy) = (rng.gen_range(0..3u32), rng.gen_range(0..3u32));
                let mut f = image::imageops::crop_imm(&p, 19 + k + jx, 29 + jy, 64, 48).to_image();
                for px in f.pixels_mut() {
                    for c in px.0.iter_mut() {
                        *c = (*c as i32 + rng.gen_range(-12..=12)).clamp(0, 255) as u8;
                    }
                }
                f
            })
            .collect();
        let jitter = sequence_error(&frames, &jittered);
        assert!(steady < 3.0, "a steady pan's error is near 0: {steady}");
        assert!(
            jitter > 3.0 * steady + 4.0,
            "jitter {jitter} vs steady {steady}"
        );
    }

    #[test]
    fn inconsistent_flow_is_masked_out() {
        let (w, h) = (8, 6);
        let mut back = Flow::zeros(w, h);
        let fwd = Flow::zeros(w, h);
        // One pixel claims a 3 px move the forward flow does not confirm.
        back.u[2 * w + 3] = 3.0;
        let c = Correspondence::from_flows(&back, &fwd);
        assert!(!c.valid[2 * w + 3]);
        // Its left neighbour sits on the motion boundary it makes.
        assert!(!c.valid[2 * w + 2]);
        assert!(c.valid[4 * w + 6]);
        // A pixel whose flow leaves the frame does not count either.
        back.u[w - 1] = 2.0;
        let mut fwd2 = Flow::zeros(w, h);
        fwd2.u[w - 1] = -2.0;
        assert!(!Correspondence::from_flows(&back, &fwd2).valid[w - 1]);
        // Identical outputs: no error; a flat shift of 10 levels: 10.
        let a = RgbImage::from_pixel(w as u32, h as u32, image::Rgb([100, 100, 100]));
        let b = RgbImage::from_pixel(w as u32, h as u32, image::Rgb([110, 110, 110]));
        assert_eq!(pair_error(&a, &a, &c).unwrap().mean_abs, 0.0);
        let e = pair_error(&a, &b, &c).unwrap();
        assert!((e.mean_abs - 10.0).abs() < 1e-9);
        assert!((e.mse - 3.0 * (10.0f64 / 255.0).powi(2)).abs() < 1e-9);
    }
}
