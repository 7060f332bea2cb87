//! A run-time temporal filter for video and live frames (`--smooth`): each stylized frame is
//! blended with the previous result where the input did not change, so strokes that the
//! network repaints from frame to frame on a still scene settle, while anything that moves
//! takes the new frame at once (no ghost trails).
//!
//! Per pixel, the previous output's weight is `amount * (1 - d / MOTION_LEVELS)`, clamped at
//! 0, where `d` is the input's mean absolute change over the three channels (0..255). A
//! frame whose input changed on average by more than `CUT_LEVELS` (a cut, a camera pulled
//! round) starts afresh.

use image::RgbImage;

/// Input change (levels) at which a pixel takes the new output alone.
pub const MOTION_LEVELS: f32 = 24.0;
/// Mean input change (levels) that counts as a cut: the filter resets.
pub const CUT_LEVELS: f32 = 30.0;

/// The filter's state: the previous input and output.
#[derive(Debug, Clone)]
pub struct TemporalSmoother {
    amount: f32,
    prev: Option<(RgbImage, RgbImage)>,
}

impl TemporalSmoother {
    /// `amount` in 0..=1 (clamped): 0 passes frames through.
    pub fn new(amount: f32) -> Self {
        Self {
            amount: if amount.is_finite() {
                amount.clamp(0.0, 1.0)
            } else {
                0.0
            },
            prev: None,
        }
    }

    pub fn amount(&self) -> f32 {
        self.amount
    }

    /// Forgets the previous frame (a new clip, a new style).
    pub fn reset(&mut self) {
        self.prev = None;
    }

    /// The filtered output for `input` -> `output` (the same size; another size resets).
    pub fn apply(&mut self, input: &RgbImage, output: RgbImage) -> RgbImage {
        if self.amount <= 0.0 {
            return output;
        }
        let blended = match &self.prev {
            Some((pin, pout))
                if pin.dimensions() == input.dimensions()
                    && pout.dimensions() == output.dimensions()
                    && input.dimensions() == output.dimensions()
                    && mean_change(pin, input) <= CUT_LEVELS =>
            {
                let mut out = output;
                let (a, ci, po) = (self.amount, input.as_raw(), pout.as_raw());
                let pi = pin.as_raw();
                for (k, px) in out.as_mut().chunks_exact_mut(3).enumerate() {
                    let j = k * 3;
                    let d = (0..3)
                        .map(|c| (ci[j + c] as f32 - pi[j + c] as f32).abs())
                        .sum::<f32>()
                        / 3.0;
                    let w = a * (1.0 - d / MOTION_LEVELS).max(0.0);
                    if w > 0.0 {
                        for c in 0..3 {
                            let v = w * po[j + c] as f32 + (1.0 - w) * px[c] as f32;
                            px[c] = v.round().clamp(0.0, 255.0) as u8;
                        }
                    }
                }
                out
            }
            _ => output,
        };
        self.prev = Some((input.clone(), blended.clone()));
        blended
    }
}

/// Mean absolute difference per channel value (0..255) of two equal-sized images.
fn mean_change(a: &RgbImage, b: &RgbImage) -> f32 {
    let n = a.as_raw().len().max(1);
    let s: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y) as u64)
        .sum();
    s as f32 / n as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn flat(w: u32, h: u32, v: u8) -> RgbImage {
        RgbImage::from_pixel(w, h, Rgb([v, v, v]))
    }

    #[test]
    fn a_still_scene_settles_and_zero_passes_through() {
        let input = flat(8, 8, 100);
        let mut s = TemporalSmoother::new(0.8);
        assert_eq!(
            s.apply(&input, flat(8, 8, 0)),
            flat(8, 8, 0),
            "the first frame as is"
        );
        // The network repaints 0 -> 200 on an unchanged input: the filter keeps most of 0.
        let second = s.apply(&input, flat(8, 8, 200));
        assert_eq!(second.get_pixel(3, 3)[0], 40);
        let mut off = TemporalSmoother::new(0.0);
        off.apply(&input, flat(8, 8, 0));
        assert_eq!(off.apply(&input, flat(8, 8, 200)), flat(8, 8, 200));
    }

    #[test]
    fn what_moves_takes_the_new_frame_and_a_cut_resets() {
        let mut s = TemporalSmoother::new(0.9);
        let a = flat(8, 8, 100);
        s.apply(&a, flat(8, 8, 0));
        // One pixel's input changes a lot: that pixel is not blended, the rest is.
        let mut b = a.clone();
        b.put_pixel(2, 2, Rgb([250, 250, 250]));
        let out = s.apply(&b, flat(8, 8, 200));
        assert_eq!(out.get_pixel(2, 2)[0], 200, "a moving pixel must not ghost");
        assert!(out.get_pixel(5, 5)[0] < 60);
        // A cut: the whole input changes by more than CUT_LEVELS.
        let out = s.apply(&flat(8, 8, 200), flat(8, 8, 90));
        assert_eq!(out, flat(8, 8, 90));
    }

    #[test]
    fn out_of_range_amounts_are_clamped() {
        assert_eq!(TemporalSmoother::new(7.0).amount(), 1.0);
        assert_eq!(TemporalSmoother::new(-1.0).amount(), 0.0);
        assert_eq!(TemporalSmoother::new(f32::NAN).amount(), 0.0);
    }
}
