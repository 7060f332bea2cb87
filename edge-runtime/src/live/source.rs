//! Frame sources for live mode: the synthetic test pattern, still images (the demo photo,
//! an image file, a folder shown as a slideshow). The camera is in `camera.rs`.

use std::f32::consts::PI;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use image::RgbImage;
use stylecast::io::image::{images_in, load_rgb, resize_longer_side};

use super::pixfmt::FrameLayout;

/// A frame's pixels. Sources hand over the cheapest form and the inference thread
/// converts: most frames are replaced by a newer one before anyone looks at them, and
/// decoding (MJPEG) or rendering (the pattern) those would only burn the CPU the
/// network needs.
pub enum Pixels {
    Rgb(RgbImage),
    /// A camera buffer as captured.
    Raw {
        data: Vec<u8>,
        layout: FrameLayout,
    },
    /// The test pattern at a scene time.
    Pattern {
        width: u32,
        height: u32,
        time: f64,
    },
}

impl Pixels {
    pub fn into_rgb(self) -> Result<RgbImage> {
        match self {
            Pixels::Rgb(img) => Ok(img),
            Pixels::Raw { data, layout } => layout.decode(&data),
            Pixels::Pattern {
                width,
                height,
                time,
            } => Ok(render_pattern(width, height, time)),
        }
    }
}

/// One captured picture.
pub struct Frame {
    pub pixels: Pixels,
    /// When the source produced it; latency is measured from here to the screen.
    pub captured: Instant,
    /// A status card (e.g. "reconnecting"), shown as is instead of being stylized.
    pub card: bool,
}

impl Frame {
    pub fn new(pixels: Pixels) -> Self {
        Self {
            pixels,
            captured: Instant::now(),
            card: false,
        }
    }
    pub fn card(image: RgbImage) -> Self {
        Self {
            pixels: Pixels::Rgb(image),
            captured: Instant::now(),
            card: true,
        }
    }
}

/// Something that yields frames at its own pace, on the capture thread.
pub trait FrameSource: Send {
    /// For logs and the window title.
    fn describe(&self) -> String;
    /// The frame size to expect (window sizing); frames may differ (cards, slideshow).
    fn size(&self) -> (u32, u32);
    /// Blocks until the next frame is due. An error is logged and retried by the caller.
    fn next_frame(&mut self) -> Result<Frame>;
}

/// Sleeps so frames come at a fixed rate; after a stall it restarts the schedule
/// instead of bursting to catch up.
pub struct Pacer {
    period: Duration,
    next: Instant,
}

impl Pacer {
    pub fn new(fps: u32) -> Self {
        Self {
            period: Duration::from_secs_f64(1.0 / fps.max(1) as f64),
            next: Instant::now(),
        }
    }
    pub fn wait(&mut self) {
        let now = Instant::now();
        if self.next > now {
            std::thread::sleep(self.next - now);
            self.next += self.period;
        } else {
            self.next = now + self.period;
        }
    }
}

/// The synthetic scene: a sky gradient with a moving sun, perspective ground stripes,
/// a bouncing box, a ball and colour bars. `time` in seconds; the same time gives the
/// same picture, so `--pattern-time` makes runs reproducible.
pub fn render_pattern(width: u32, height: u32, time: f64) -> RgbImage {
    let (w, h) = (width.max(1) as f32, height.max(1) as f32);
    let t = time as f32;
    let frac = |x: f32| x - x.floor();
    let tri = |x: f32| 1.0 - (2.0 * frac(x) - 1.0).abs();
    let lerp = |a: [f32; 3], b: [f32; 3], s: f32| {
        [0, 1, 2].map(|i| a[i] + (b[i] - a[i]) * s.clamp(0.0, 1.0))
    };
    let horizon = 0.62;
    // Sun on an arc across the sky, period 12 s.
    let sp = frac(t / 12.0);
    let (sun_x, sun_y, sun_r) = (0.1 + 0.8 * sp, 0.42 - 0.3 * (PI * sp).sin(), 0.09);
    // Box bouncing over the whole frame, ball swinging over the ground.
    let (box_x, box_y, box_s) = (0.08 + 0.7 * tri(t / 5.0), 0.1 + 0.65 * tri(t / 3.7), 0.14);
    let (ball_x, ball_y, ball_r) = (
        0.5 + 0.35 * (t * 0.9).sin(),
        0.8 + 0.08 * (t * 2.3).cos(),
        0.07,
    );
    let aspect = w / h;
    RgbImage::from_fn(width.max(1), height.max(1), |x, y| {
        let u = (x as f32 + 0.5) / w;
        let v = (y as f32 + 0.5) / h;
        let mut c = if v < horizon {
            let s = v / horizon;
            lerp(
                [25.0, 50.0, 130.0 + 40.0 * (t * 0.2).sin()],
                [250.0, 175.0, 95.0],
                s * s,
            )
        } else {
            // Stripes converge on a vanishing point and scroll towards the viewer.
            let depth = (v - horizon) / (1.0 - horizon);
            let lane = ((u - 0.5) / (depth + 0.05) * 3.0).floor() as i32;
            let row = (1.0 / (depth + 0.08) + t * 2.0).floor() as i32;
            let k = if (lane + row).rem_euclid(2) == 0 {
                1.0
            } else {
                0.72
            };
            [60.0 * k, (95.0 + 80.0 * depth) * k, 45.0 * k]
        };
        let d_sun = (((u - sun_x) * aspect).powi(2) + (v - sun_y).powi(2)).sqrt();
        if d_sun < sun_r * 1.6 {
            let glow = ((sun_r * 1.6 - d_sun) / (sun_r * 0.6)).clamp(0.0, 1.0);
            c = lerp(c, [255.0, 225.0, 90.0], glow);
        }
        let d_ball = (((u - ball_x) * aspect).powi(2) + (v - ball_y).powi(2)).sqrt();
        if d_ball < ball_r {
            // Lit from the top-left like a sphere.
            let shade = 1.0
                - 0.6 * ((u - ball_x + ball_r * 0.4) * aspect).hypot(v - ball_y + ball_r * 0.4)
                    / ball_r;
            c = [40.0 * shade + 20.0, 200.0 * shade, 230.0 * shade + 20.0];
        }
        if (box_x..box_x + box_s / aspect).contains(&u) && (box_y..box_y + box_s).contains(&v) {
            let edge = (u - box_x).min(box_x + box_s / aspect - u) * aspect < 0.012
                || (v - box_y).min(box_y + box_s - v) < 0.012;
            c = if edge {
                [250.0, 250.0, 250.0]
            } else {
                [215.0, 40.0 + 100.0 * tri(t / 2.0), 60.0]
            };
        }
        if v < 0.07 && u > 0.62 {
            // Colour bars, top right.
            const BARS: [[f32; 3]; 7] = [
                [235.0, 235.0, 235.0],
                [235.0, 235.0, 16.0],
                [16.0, 235.0, 235.0],
                [16.0, 235.0, 16.0],
                [235.0, 16.0, 235.0],
                [235.0, 16.0, 16.0],
                [16.0, 16.0, 235.0],
            ];
            c = BARS[(((u - 0.62) / 0.38 * 7.0) as usize).min(6)];
        }
        image::Rgb(c.map(|v| v.round().clamp(0.0, 255.0) as u8))
    })
}

/// `--source test-pattern`: the synthetic scene at the camera size and rate.
pub struct TestPattern {
    width: u32,
    height: u32,
    start: Instant,
    /// A fixed scene time: every frame is the same picture.
    fixed_time: Option<f64>,
    pacer: Pacer,
}

impl TestPattern {
    pub fn new(width: u32, height: u32, fps: u32, fixed_time: Option<f64>) -> Self {
        Self {
            width,
            height,
            start: Instant::now(),
            fixed_time,
            pacer: Pacer::new(fps),
        }
    }
}

impl FrameSource for TestPattern {
    fn describe(&self) -> String {
        match self.fixed_time {
            Some(t) => format!(
                "test pattern {}x{} (frozen at t={t} s)",
                self.width, self.height
            ),
            None => format!("test pattern {}x{}", self.width, self.height),
        }
    }
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }
    fn next_frame(&mut self) -> Result<Frame> {
        self.pacer.wait();
        let time = self
            .fixed_time
            .unwrap_or_else(|| self.start.elapsed().as_secs_f64());
        Ok(Frame::new(Pixels::Pattern {
            width: self.width,
            height: self.height,
            time,
        }))
    }
}

/// How long each picture of a folder stays up.
const SLIDE_SECONDS: f64 = 8.0;

/// The demo photo, an image file, or a folder of images cycled as a slideshow;
/// each picture is re-sent at the frame rate so style changes show at once.
pub struct StillSource {
    name: String,
    paths: Vec<PathBuf>,
    index: usize,
    current: RgbImage,
    shown_at: Instant,
    pacer: Pacer,
}

impl StillSource {
    /// One image file or a folder of them (sorted, recursively).
    pub fn open(path: &Path, fps: u32) -> Result<Self> {
        let paths = if path.is_dir() {
            images_in(path)?
        } else if path.is_file() {
            vec![path.to_path_buf()]
        } else {
            bail!("{}: no such image file or folder", path.display());
        };
        // The first picture that loads starts the show; an unreadable one is passed over
        // as `advance` does later, and only a show with no readable picture fails.
        let mut first = None;
        let mut last_error = None;
        for (i, p) in paths.iter().enumerate() {
            match load_rgb(p) {
                Ok(img) => {
                    first = Some((i, img));
                    break;
                }
                Err(e) if paths.len() > 1 => {
                    eprintln!("warning: {}: skipped: {e}", p.display());
                    last_error = Some(e);
                }
                Err(e) => return Err(e).context(format!("{}: cannot load image", p.display())),
            }
        }
        let Some((index, img)) = first else {
            let why = last_error.map(|e| e.to_string()).unwrap_or_default();
            bail!(
                "{}: none of its {} images can be read (the last: {why})",
                path.display(),
                paths.len()
            );
        };
        let current = fit_still(img);
        let name = if paths.len() > 1 {
            format!("slideshow of {} images in {}", paths.len(), path.display())
        } else {
            format!("image {}", path.display())
        };
        Ok(Self {
            name,
            paths,
            index,
            current,
            shown_at: Instant::now(),
            pacer: Pacer::new(fps),
        })
    }

    fn advance(&mut self) {
        // Skip unreadable files instead of stopping the show; give up after one full round.
        for _ in 0..self.paths.len() {
            self.index = (self.index + 1) % self.paths.len();
            match load_rgb(&self.paths[self.index]) {
                Ok(img) => {
                    self.current = fit_still(img);
                    break;
                }
                Err(e) => eprintln!(
                    "warning: {}: skipped: {e}",
                    self.paths[self.index].display()
                ),
            }
        }
        self.shown_at = Instant::now();
    }
}

impl FrameSource for StillSource {
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn size(&self) -> (u32, u32) {
        self.current.dimensions()
    }
    fn next_frame(&mut self) -> Result<Frame> {
        self.pacer.wait();
        if self.paths.len() > 1 && self.shown_at.elapsed().as_secs_f64() >= SLIDE_SECONDS {
            self.advance();
        }
        Ok(Frame::new(Pixels::Rgb(self.current.clone())))
    }
}

/// Largest side a still keeps: it is copied every frame, and nothing downstream (network,
/// window) uses more, while a 24-megapixel photo would cost 70 MB per copy.
const STILL_MAX_SIDE: u32 = 1920;

fn fit_still(img: RgbImage) -> RgbImage {
    if img.width().max(img.height()) <= STILL_MAX_SIDE {
        return img;
    }
    resize_longer_side(&img, STILL_MAX_SIDE)
}

/// The bundled demo photo: ./assets/demo.jpg, then the checkout's assets/demo.jpg.
pub fn demo_photo() -> Option<PathBuf> {
    [
        PathBuf::from("assets/demo.jpg"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo.jpg"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_deterministic_and_moves() {
        let a = render_pattern(96, 64, 1.5);
        assert_eq!(a, render_pattern(96, 64, 1.5));
        let b = render_pattern(96, 64, 2.5);
        let diff = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .filter(|(x, y)| x != y)
            .count();
        assert!(diff > a.as_raw().len() / 50, "pattern barely moves: {diff}");
    }

    #[test]
    fn pattern_has_a_scene_not_a_flat_fill() {
        let img = render_pattern(160, 120, 0.0);
        let mut colours: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        colours.sort();
        colours.dedup();
        assert!(colours.len() > 100, "only {} colours", colours.len());
        assert_eq!(render_pattern(1, 1, 3.0).dimensions(), (1, 1));
    }

    #[test]
    fn test_pattern_frames_render_on_demand() {
        let mut p = TestPattern::new(32, 24, 1000, Some(0.5));
        let img = p.next_frame().unwrap().pixels.into_rgb().unwrap();
        assert_eq!(img, render_pattern(32, 24, 0.5));
    }

    #[test]
    fn pacer_keeps_the_rate() {
        let mut p = Pacer::new(100);
        let t = Instant::now();
        for _ in 0..11 {
            p.wait();
        }
        let ms = t.elapsed().as_millis();
        assert!((90..400).contains(&ms), "{ms} ms for 10 periods of 10 ms");
    }

    #[test]
    fn big_stills_are_shrunk_once() {
        assert_eq!(
            fit_still(RgbImage::new(4000, 3000)).dimensions(),
            (1920, 1440)
        );
        assert_eq!(fit_still(RgbImage::new(640, 480)).dimensions(), (640, 480));
    }

    #[test]
    fn still_source_errors_name_the_path() {
        let e = StillSource::open(Path::new("/nonexistent/photo.jpg"), 30)
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("/nonexistent/photo.jpg"));
        let dir = tempfile::tempdir().unwrap();
        let e = StillSource::open(dir.path(), 30).err().unwrap();
        assert!(format!("{e:#}").contains("no images"));
        RgbImage::from_pixel(8, 6, image::Rgb([1, 2, 3]))
            .save(dir.path().join("a.png"))
            .unwrap();
        let mut s = StillSource::open(dir.path(), 1000).unwrap();
        assert_eq!(s.size(), (8, 6));
        assert_eq!(
            s.next_frame()
                .unwrap()
                .pixels
                .into_rgb()
                .unwrap()
                .get_pixel(0, 0)
                .0,
            [1, 2, 3]
        );
    }
}
