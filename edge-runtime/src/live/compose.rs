//! The picture of a stylized frame: the view mode (original / stylized / split) and the
//! cross-fade between styles when `--cycle` switches them.

use std::time::{Duration, Instant};

use image::RgbImage;

use super::pipeline::Stylized;

/// What the picture shows (`o` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewMode {
    Stylized,
    Original,
    /// Original on the left half, stylized on the right.
    Split,
}

impl ViewMode {
    pub fn next(self) -> Self {
        match self {
            ViewMode::Stylized => ViewMode::Original,
            ViewMode::Original => ViewMode::Split,
            ViewMode::Split => ViewMode::Stylized,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            ViewMode::Stylized => "stylized",
            ViewMode::Original => "original",
            ViewMode::Split => "split",
        }
    }
}

/// Builds the picture from a stylized frame; cross-fades when the style cycles.
pub struct Compositor {
    fade_len: Duration,
    /// Set when a cycle switched style: the first frame of that style starts a fade.
    pending_fade_to: Option<usize>,
    fade: Option<(RgbImage, Instant)>,
    last: Option<RgbImage>,
}

impl Compositor {
    pub fn new(fade_len: Duration) -> Self {
        Self {
            fade_len,
            pending_fade_to: None,
            fade: None,
            last: None,
        }
    }

    pub fn fade_to(&mut self, style: usize) {
        self.pending_fade_to = Some(style);
    }

    pub fn fading(&self) -> bool {
        self.fade.is_some()
    }

    pub fn compose(&mut self, f: &Stylized, view: ViewMode, now: Instant) -> RgbImage {
        let mut pic = match view {
            _ if f.card => f.output.clone(),
            ViewMode::Stylized => f.output.clone(),
            ViewMode::Original => f.input.clone(),
            ViewMode::Split => {
                let mut p = f.output.clone();
                let (w, h) = p.dimensions();
                for y in 0..h {
                    for x in 0..w / 2 {
                        p.put_pixel(x, y, *f.input.get_pixel(x, y));
                    }
                    p.put_pixel(w / 2, y, image::Rgb([255, 255, 255]));
                }
                p
            }
        };
        if !f.card && self.pending_fade_to == Some(f.style) {
            self.pending_fade_to = None;
            if let Some(last) = self
                .last
                .take()
                .filter(|l| l.dimensions() == pic.dimensions())
            {
                self.fade = Some((last, now));
            }
        }
        if let Some((from, start)) = &self.fade {
            let t =
                now.duration_since(*start).as_secs_f32() / self.fade_len.as_secs_f32().max(1e-3);
            if t >= 1.0 || from.dimensions() != pic.dimensions() {
                self.fade = None;
            } else {
                pic = stylecast::stylize::blend(from, &pic, t);
            }
        }
        if self.fade.is_none() {
            self.last = Some(pic.clone());
        }
        pic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(style: usize, v: u8) -> Stylized {
        Stylized {
            input: RgbImage::from_pixel(4, 2, image::Rgb([10, 10, 10])),
            output: RgbImage::from_pixel(4, 2, image::Rgb([v, v, v])),
            source_size: (4, 2),
            captured: Instant::now(),
            style,
            card: false,
        }
    }

    #[test]
    fn views_pick_input_output_or_both() {
        let mut c = Compositor::new(Duration::from_millis(500));
        let f = frame(0, 200);
        let now = Instant::now();
        assert_eq!(
            c.compose(&f, ViewMode::Stylized, now).get_pixel(0, 0).0,
            [200; 3]
        );
        assert_eq!(
            c.compose(&f, ViewMode::Original, now).get_pixel(3, 1).0,
            [10; 3]
        );
        let split = c.compose(&f, ViewMode::Split, now);
        assert_eq!(split.get_pixel(0, 0).0, [10; 3]);
        assert_eq!(split.get_pixel(3, 0).0, [200; 3]);
    }

    #[test]
    fn cycling_cross_fades_from_the_last_picture() {
        let mut c = Compositor::new(Duration::from_millis(1000));
        let t0 = Instant::now();
        c.compose(&frame(0, 0), ViewMode::Stylized, t0);
        c.fade_to(1);
        // A frame still in flight with the old style does not start the fade.
        assert_eq!(
            c.compose(&frame(0, 0), ViewMode::Stylized, t0)
                .get_pixel(0, 0)
                .0,
            [0; 3]
        );
        assert_eq!(
            c.compose(&frame(1, 200), ViewMode::Stylized, t0)
                .get_pixel(0, 0)
                .0,
            [0; 3]
        );
        assert!(c.fading());
        let mid = c.compose(
            &frame(1, 200),
            ViewMode::Stylized,
            t0 + Duration::from_millis(500),
        );
        assert_eq!(mid.get_pixel(0, 0).0, [100; 3]);
        let end = c.compose(
            &frame(1, 200),
            ViewMode::Stylized,
            t0 + Duration::from_millis(1100),
        );
        assert_eq!(end.get_pixel(0, 0).0, [200; 3]);
        assert!(!c.fading());
    }
}
