//! The live pipeline: capture -> inference -> display, each on its own thread, joined by
//! one-slot mailboxes where the newest frame replaces an unread one. A slow stage thus
//! sees only the latest frame (the replaced ones are counted as dropped) and latency
//! never builds up in queues.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use image::RgbImage;
use stylecast::{StylizeOptions, Stylizer};

use super::compose::resize_rgb;
use super::source::{Frame, FrameSource};

/// A bounded channel of capacity one where the newest item wins.
pub struct Mailbox<T> {
    state: Mutex<Slot<T>>,
    ready: Condvar,
    dropped: AtomicU64,
}

struct Slot<T> {
    item: Option<T>,
    closed: bool,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(Slot {
                item: None,
                closed: false,
            }),
            ready: Condvar::new(),
            dropped: AtomicU64::new(0),
        }
    }
}

impl<T> Mailbox<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // A panicking holder cannot leave a half-written Option: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `item` in the slot; an unread item there is dropped and counted.
    pub fn post(&self, item: T) {
        let mut s = self.lock();
        if s.item.replace(item).is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop(s);
        self.ready.notify_one();
    }

    /// The newest item, waiting up to `timeout` for one; None on timeout or once closed.
    pub fn take_timeout(&self, timeout: Duration) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if let Some(v) = s.item.take() {
                return Some(v);
            }
            let now = Instant::now();
            if s.closed || now >= deadline {
                return None;
            }
            s = self
                .ready
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Wakes waiters for good (shutdown).
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Lets a repeated warning through at most once per period, so a persistent fault
/// (30 times a second) does not flood the log.
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
}

impl Throttle {
    pub fn new(every: Duration) -> Self {
        Self { every, last: None }
    }
    pub fn ready(&mut self) -> bool {
        let now = Instant::now();
        match self.last {
            Some(t) if now.duration_since(t) < self.every => false,
            _ => {
                self.last = Some(now);
                true
            }
        }
    }
}

/// What the viewer controls and the inference thread reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Controls {
    pub style: usize,
    pub strength: f32,
    pub preserve_colors: bool,
    /// Keep stylizing the same input frame (style and strength changes still apply).
    pub frozen: bool,
    /// Bumped on every change, so a frozen frame is redone only when needed.
    pub version: u64,
}

/// Counters the stages update and the presenter reports.
#[derive(Default)]
pub struct Stats {
    pub captured: AtomicU64,
    pub inferred: AtomicU64,
    pub infer_us: AtomicU64,
    pub errors: AtomicU64,
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
        })
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
/// already uses every core for one forward pass).
pub fn infer_loop(
    styles: Vec<Stylizer>,
    infer_size: (u32, u32),
    border_pad: u32,
    shared: Arc<Shared>,
) {
    // The last frame taken, decoded: what a freeze keeps stylizing.
    let mut held: Option<(RgbImage, Instant, bool)> = None;
    let mut done_version = u64::MAX;
    let mut warn = Throttle::new(Duration::from_secs(10));
    let mut decode_warn = Throttle::new(Duration::from_secs(10));
    while !shared.stopping() {
        let controls = shared.controls();
        let reuse = controls.frozen && held.is_some();
        if reuse && controls.version == done_version {
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
                    shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                    if decode_warn.ready() {
                        eprintln!("warning: frame skipped: {e:#}");
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
        let style = controls.style.min(styles.len() - 1);
        let opts = StylizeOptions {
            max_side: None,
            strength: controls.strength,
            preserve_colors: controls.preserve_colors,
            border_pad,
        };
        let t = Instant::now();
        // Strength 0 without colour transfer is the input itself: skip the network.
        let result = if controls.strength <= 0.0 && !controls.preserve_colors {
            Ok(input.clone())
        } else {
            styles[style].stylize(&input, &opts)
        };
        match result {
            Ok(output) => {
                shared
                    .stats
                    .infer_us
                    .fetch_add(t.elapsed().as_micros() as u64, Ordering::Relaxed);
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
                    eprintln!(
                        "warning: stylizing with {} failed: {e}",
                        styles[style].meta().style
                    );
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lets_one_through_per_period() {
        let mut t = Throttle::new(Duration::from_secs(60));
        assert!(t.ready());
        assert!(!t.ready());
        let mut t = Throttle::new(Duration::ZERO);
        assert!(t.ready() && t.ready());
    }

    #[test]
    fn newest_item_wins_and_drops_are_counted() {
        let m = Mailbox::default();
        m.post(1);
        m.post(2);
        m.post(3);
        assert_eq!(m.take_timeout(Duration::ZERO), Some(3));
        assert_eq!(m.dropped(), 2);
        assert_eq!(m.take_timeout(Duration::from_millis(10)), None);
    }

    #[test]
    fn take_wakes_on_post_and_on_close() {
        let m = Arc::new(Mailbox::default());
        let m2 = m.clone();
        let h = std::thread::spawn(move || m2.take_timeout(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        m.post(7u8);
        assert_eq!(h.join().unwrap(), Some(7));
        let m2 = m.clone();
        let t = Instant::now();
        let h = std::thread::spawn(move || m2.take_timeout(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        m.close();
        assert_eq!(h.join().unwrap(), None);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_slow_consumer_sees_bounded_latency() {
        // Producer at ~1 kHz, consumer at ~50 Hz: what the consumer gets is always fresh.
        let m = Arc::new(Mailbox::<Instant>::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (m2, s2) = (m.clone(), stop.clone());
        let producer = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                m2.post(Instant::now());
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(20));
            let t = m.take_timeout(Duration::from_secs(1)).unwrap();
            // A queue would have grown by ~20 ms per round here; the slot stays fresh.
            assert!(
                t.elapsed() < Duration::from_millis(80),
                "stale item: {:?}",
                t.elapsed()
            );
        }
        stop.store(true, Ordering::Relaxed);
        producer.join().unwrap();
        assert!(m.dropped() > 50);
    }
}
