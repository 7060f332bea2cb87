//! The two worker threads of live mode, capture and inference, and the state the three
//! threads share: the viewer's controls, the counters, and the mailboxes (see `mailbox`)
//! that carry frames from capture to inference to display.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::RgbImage;
use stylecast::{StylizeOptions, Stylizer};

use super::library::Library;
use super::morph::Morph;

use super::mailbox::Mailbox;
use super::scale::resize_rgb;
use super::source::{Frame, FrameSource};
use super::throttle::Throttle;

/// What the viewer controls and the inference thread reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Controls {
    pub style: usize,
    pub strength: f32,
    pub preserve_colors: bool,
    /// Keep stylizing the same input frame (style and strength changes still apply).
    pub frozen: bool,
    /// Moving from another style of the same multi-style file to `style`.
    pub morph: Option<Morph>,
    /// Bumped on every change, so a frozen frame is redone only when needed.
    pub version: u64,
}

/// Counters the stages update and the presenter reports.
#[derive(Default)]
pub struct Stats {
    pub captured: AtomicU64,
    pub inferred: AtomicU64,
    pub infer_us: AtomicU64,
    /// The slowest inference since the presenter's last log line (it resets it).
    pub infer_max_us: AtomicU64,
    pub errors: AtomicU64,
    /// Camera frames that did not decode (corrupt or cut-short MJPEG), skipped.
    pub skipped: AtomicU64,
}

/// State shared by the three threads.
pub struct Shared {
    pub stop: AtomicBool,
    /// A stage panicked: the run ends with an error (a supervisor restarts it).
    pub crashed: AtomicBool,
    pub controls: Mutex<Controls>,
    pub stats: Stats,
    pub captured: Mailbox<Frame>,
    pub stylized: Mailbox<Stylized>,
    /// When the inference thread last showed life, in ms after `epoch` (the watchdog's
    /// input: see `watchdog`).
    epoch: Instant,
    heartbeat_ms: AtomicU64,
}

impl Shared {
    pub fn new(controls: Controls) -> Arc<Self> {
        Arc::new(Self {
            stop: AtomicBool::new(false),
            crashed: AtomicBool::new(false),
            controls: Mutex::new(controls),
            stats: Stats::default(),
            captured: Mailbox::default(),
            stylized: Mailbox::default(),
            epoch: Instant::now(),
            heartbeat_ms: AtomicU64::new(0),
        })
    }
    /// The inference thread is alive (called between frames, never inside one).
    pub fn inference_heartbeat(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.heartbeat_ms.store(ms, Ordering::Relaxed);
    }
    pub fn since_inference_heartbeat(&self) -> Duration {
        let beat = Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(beat)
    }
    pub fn controls(&self) -> Controls {
        self.controls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    /// Changes the controls and bumps their version.
    pub fn update_controls(&self, f: impl FnOnce(&mut Controls)) {
        let mut c = self.controls.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut c);
        c.version += 1;
    }
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.captured.close();
        self.stylized.close();
    }
    /// Frames replaced before anyone read them, in both mailboxes.
    pub fn dropped(&self) -> u64 {
        self.captured.dropped() + self.stylized.dropped()
    }
}

/// A frame after inference, at the inference size.
pub struct Stylized {
    /// The network's input (the captured frame scaled to the inference size).
    pub input: RgbImage,
    pub output: RgbImage,
    /// The captured frame's size: the display restores its aspect ratio.
    pub source_size: (u32, u32),
    pub captured: Instant,
    pub style: usize,
    pub card: bool,
}

/// The capture thread: pulls frames from the source and posts them. Source errors are
/// logged (at most every few seconds) and retried; only `stop` ends the loop.
pub fn capture_loop(mut source: Box<dyn FrameSource>, shared: Arc<Shared>) {
    let mut warn = Throttle::new(Duration::from_secs(5));
    while !shared.stopping() {
        match source.next_frame() {
            Ok(f) => {
                shared.stats.captured.fetch_add(1, Ordering::Relaxed);
                shared.captured.post(f);
            }
            Err(e) => {
                if warn.ready() {
                    eprintln!("warning: {}: {e:#}", source.describe());
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// The inference thread: the only one that runs the network (candle's CPU backend
/// already uses every core for one forward pass). `opts` are the run's stylize options;
/// strength and colours come from the controls, which the viewer changes.
pub fn infer_loop(
    library: Arc<Library>,
    infer_size: (u32, u32),
    opts: StylizeOptions,
    mut smoother: stylecast::temporal::TemporalSmoother,
    shared: Arc<Shared>,
) {
    // The last frame taken, decoded: what a freeze keeps stylizing.
    let mut held: Option<(RgbImage, Instant, bool)> = None;
    let mut done_version = u64::MAX;
    let mut last_style = usize::MAX;
    // The stylizer a morph paints with: a copy of the target style's (weights shared), its
    // blend set anew each frame. Keyed by (set version, style) so a switch copies it once.
    let mut morphing: Option<((u64, usize), Stylizer)> = None;
    let mut warn = Throttle::new(Duration::from_secs(10));
    let mut decode_warn = Throttle::new(Duration::from_secs(10));
    // Fault injection for the watchdog test: after N frames, block like a call that
    // never returns from a driver (ignores `stop` too).
    let stall_after: Option<u64> = std::env::var("STYLECAST_TEST_STALL_INFERENCE_AFTER")
        .ok()
        .and_then(|v| v.parse().ok());
    while !shared.stopping() {
        shared.inference_heartbeat();
        if stall_after.is_some_and(|n| shared.stats.inferred.load(Ordering::Relaxed) >= n) {
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        let controls = shared.controls();
        let reuse = controls.frozen && held.is_some();
        // A morph goes on over a frozen frame: each step is a new picture.
        let in_morph = controls
            .morph
            .as_ref()
            .is_some_and(|m| m.progress(Instant::now()) < 1.0);
        if reuse && controls.version == done_version && !in_morph {
            std::thread::sleep(Duration::from_millis(15));
            continue;
        }
        if !reuse {
            let Some(frame) = shared.captured.take_timeout(Duration::from_millis(100)) else {
                continue;
            };
            match frame.pixels.into_rgb() {
                Ok(img) => held = Some((img, frame.captured, frame.card)),
                Err(e) => {
                    // A corrupt camera frame now and then is normal; skip it.
                    let n = shared.stats.skipped.fetch_add(1, Ordering::Relaxed) + 1;
                    if decode_warn.ready() {
                        eprintln!("warning: camera frame skipped ({n} so far): {e:#}");
                    }
                    continue;
                }
            }
        }
        let Some((image, captured, card)) = &held else {
            continue;
        };
        // A frozen frame redone for new controls counts its latency from now, not from
        // when it was captured.
        let (captured, card) = (if reuse { Instant::now() } else { *captured }, *card);
        done_version = controls.version;
        let source_size = image.dimensions();
        if card {
            shared.stylized.post(Stylized {
                input: image.clone(),
                output: image.clone(),
                source_size,
                captured,
                style: controls.style,
                card: true,
            });
            continue;
        }
        let input = resize_rgb(image, infer_size.0, infer_size.1);
        // Taken per frame: a reloaded style set applies from the next frame on.
        let styles = library.current();
        let version = styles.version;
        let styles = &styles.styles;
        let style = controls.style.min(styles.len() - 1);
        let mix = controls
            .morph
            .as_ref()
            .filter(|m| m.set_version == version && styles[style].multi)
            .and_then(|m| m.mix_at(Instant::now()));
        let stylizer = match mix {
            Some(mix) => {
                let key = (version, style);
                if morphing.as_ref().map(|(k, _)| *k) != Some(key) {
                    morphing = Some((key, styles[style].stylizer.clone()));
                }
                let (_, st) = morphing.as_mut().expect("set just above");
                // Only the norms' scales and shifts are mixed: cheap next to a frame.
                match st.set_style(mix) {
                    Ok(()) => &*st,
                    Err(_) => &styles[style].stylizer,
                }
            }
            None => {
                morphing = None;
                &styles[style].stylizer
            }
        };
        let opts = StylizeOptions {
            strength: controls.strength,
            preserve_colors: controls.preserve_colors,
            ..opts
        };
        let t = Instant::now();
        // Strength 0 without colour transfer is the input itself: skip the network.
        let result = if controls.strength <= 0.0 && !controls.preserve_colors {
            Ok(input.clone())
        } else {
            stylizer.stylize(&input, &opts)
        };
        // The temporal filter blends successive frames of one style, never a frozen redo.
        if reuse || style != last_style {
            smoother.reset();
        }
        last_style = style;
        match result.map(|o| smoother.apply(&input, o)) {
            Ok(output) => {
                let us = t.elapsed().as_micros() as u64;
                shared.stats.infer_us.fetch_add(us, Ordering::Relaxed);
                shared.stats.infer_max_us.fetch_max(us, Ordering::Relaxed);
                shared.stats.inferred.fetch_add(1, Ordering::Relaxed);
                shared.stylized.post(Stylized {
                    input,
                    output,
                    source_size,
                    captured,
                    style,
                    card: false,
                });
            }
            Err(e) => {
                // A kiosk keeps running; say why frames are missing.
                shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                if warn.ready() {
                    eprintln!("warning: stylizing with {} failed: {e}", styles[style].name);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
