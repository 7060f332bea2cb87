//! The v4l2 camera source. A camera that is missing, unplugged or failing never stops the
//! runtime: frames are replaced by a "reconnecting" card and the device is reopened with
//! capped exponential backoff, forever.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::overlay::render_card;
use super::source::{Frame, FrameSource};

/// How often a card is re-sent while waiting, so the countdown on it moves.
const CARD_PERIOD: Duration = Duration::from_millis(500);

/// Delays between reconnect attempts: `initial`, doubling, capped at `max`.
struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            current: initial,
        }
    }
    pub fn next_delay(&mut self) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(self.max);
        d
    }
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

/// The first capture-capable /dev/videoN (by number), else the first node at all.
pub fn find_default_camera() -> Option<PathBuf> {
    let mut nodes: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let n: u32 = name.strip_prefix("video")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    nodes.sort();
    nodes
        .iter()
        .find(|(_, p)| device::can_capture(p))
        .or(nodes.first())
        .map(|(_, p)| p.clone())
}

/// Whether any /dev/video* node exists (decides the default source).
pub fn any_camera_node() -> bool {
    std::fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("video"))
        })
        .unwrap_or(false)
}

/// The offered size nearest to `want`, as uvcvideo measures it: the least area that is
/// in one of the two rectangles but not in both.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn nearest_size(offered: &[(u32, u32)], (w, h): (u32, u32)) -> Option<(u32, u32)> {
    offered.iter().copied().min_by_key(|&(a, b)| {
        let overlap = a.min(w) as u64 * b.min(h) as u64;
        a as u64 * b as u64 + w as u64 * h as u64 - 2 * overlap
    })
}

pub struct CameraSource {
    path: PathBuf,
    size: (u32, u32),
    fps: u32,
    conn: Option<device::Connection>,
    backoff: Backoff,
    next_attempt: Instant,
    attempts: u32,
    last_error: String,
}

impl CameraSource {
    /// Nothing is opened here: the first frame request connects, so a camera that is not
    /// plugged in yet is just the first "reconnecting" card.
    pub fn new(path: &Path, size: (u32, u32), fps: u32) -> Self {
        Self {
            path: path.to_path_buf(),
            size,
            fps,
            conn: None,
            backoff: Backoff::new(Duration::from_millis(500), Duration::from_secs(10)),
            next_attempt: Instant::now(),
            attempts: 0,
            last_error: String::new(),
        }
    }

    fn fail(&mut self, what: &str, err: anyhow::Error) {
        let wait = self.backoff.next_delay();
        self.attempts += 1;
        self.last_error = format!("{err:#}");
        self.next_attempt = Instant::now() + wait;
        eprintln!(
            "warning: camera {}: {what}: {err:#}; retrying in {:.1} s",
            self.path.display(),
            wait.as_secs_f64()
        );
    }

    fn card(&self) -> Frame {
        let wait = self.next_attempt.saturating_duration_since(Instant::now());
        let lines = vec![
            "CAMERA UNAVAILABLE".to_string(),
            self.path.display().to_string(),
            format!(
                "reconnecting in {:.1} s (attempt {})",
                wait.as_secs_f64(),
                self.attempts + 1
            ),
            self.last_error.clone(),
        ];
        Frame::card(render_card(self.size.0, self.size.1, &lines))
    }
}

impl FrameSource for CameraSource {
    fn describe(&self) -> String {
        match &self.conn {
            Some(c) => format!("camera {} ({})", self.path.display(), c.describe()),
            None => format!("camera {} (not connected)", self.path.display()),
        }
    }
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn next_frame(&mut self) -> Result<Frame> {
        if let Some(conn) = &mut self.conn {
            match conn.capture() {
                Ok(pixels) => {
                    // Reset only on a real frame: a device that opens but never delivers
                    // must not be hammered at the shortest delay.
                    self.backoff.reset();
                    return Ok(Frame::new(pixels));
                }
                Err(e) => {
                    self.conn = None;
                    self.fail("capture failed", e);
                    return Ok(self.card());
                }
            }
        }
        if Instant::now() >= self.next_attempt {
            match device::Connection::open(&self.path, self.size, self.fps) {
                Ok(c) => {
                    eprintln!("camera {}: {}", self.path.display(), c.describe());
                    // Cards while reconnecting then match the camera's frames.
                    self.size = c.size();
                    self.conn = Some(c);
                    return self.next_frame();
                }
                Err(e) => self.fail("cannot open", e),
            }
        }
        std::thread::sleep(
            CARD_PERIOD
                .min(self.next_attempt.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(20)),
        );
        Ok(self.card())
    }
}

#[cfg(target_os = "linux")]
mod device {
    use std::os::fd::AsRawFd;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::path::Path;
    use std::time::Duration;

    use anyhow::{anyhow, bail, Context, Result};
    use linuxvideo::format::{FrameSizes, PixFormat, PixelFormat as Fourcc};
    use linuxvideo::stream::ReadStream;
    use linuxvideo::{BufType, CapabilityFlags, Device, Fract};

    use crate::live::camera::nearest_size;
    use crate::live::pixfmt::{FrameLayout, PixelFormat};
    use crate::live::source::Pixels;

    /// A dequeue that takes longer than this counts as a camera fault.
    const CAPTURE_TIMEOUT: Duration = Duration::from_secs(3);

    // linuxvideo issues plain ioctls on the device's file descriptor (no libv4l, no
    // bindgen at build time), so a build needs no kernel or clang headers.

    pub fn can_capture(path: &Path) -> bool {
        Device::open(path)
            .and_then(|d| d.capabilities())
            .map(|c| {
                c.device_capabilities()
                    .contains(CapabilityFlags::VIDEO_CAPTURE)
            })
            .unwrap_or(false)
    }

    /// An open, streaming camera.
    pub struct Connection {
        // Owns the device's file and its mapped buffers; dropping it stops the stream.
        stream: ReadStream,
        layout: FrameLayout,
        fps: Option<f64>,
    }

    impl Connection {
        /// Opens the device and negotiates a format we decode at (about) the asked size:
        /// YUYV first for small frames (no decoding cost), MJPEG first for large ones (USB
        /// bandwidth limits YUYV there), then packed RGB.
        pub fn open(path: &Path, (w, h): (u32, u32), fps: u32) -> Result<Self> {
            // linuxvideo asserts on a few values that only a broken driver gets wrong;
            // such a device must still be a camera fault, not the end of the runtime.
            catch_unwind(AssertUnwindSafe(|| Self::open_device(path, (w, h), fps))).unwrap_or_else(
                |_| {
                    Err(anyhow!(
                        "{}: the driver answered with values out of range",
                        path.display()
                    ))
                },
            )
        }

        fn open_device(path: &Path, (w, h): (u32, u32), fps: u32) -> Result<Self> {
            let dev = Device::open(path)
                .with_context(|| format!("{}: cannot open as a v4l2 device", path.display()))?;
            let caps = dev
                .capabilities()
                .with_context(|| format!("{}: not a v4l2 device", path.display()))?;
            if !caps
                .device_capabilities()
                .contains(CapabilityFlags::VIDEO_CAPTURE)
            {
                bail!(
                    "{} ({}) cannot capture video (a metadata or output node?)",
                    path.display(),
                    caps.card()
                );
            }
            let offered: Vec<[u8; 4]> = dev
                .formats(BufType::VIDEO_CAPTURE)
                .map(|d| d.map(|d| d.pixel_format().as_fourcc()))
                .collect::<std::io::Result<_>>()
                .with_context(|| format!("{}: cannot list formats", path.display()))?;
            let mut wanted = vec![PixelFormat::Yuyv, PixelFormat::Mjpeg, PixelFormat::Rgb24];
            if w as u64 * h as u64 > 640 * 480 {
                wanted.swap(0, 1);
            }
            // The device's own code (MJPG or JPEG) for each format we decode, preferred first.
            let usable: Vec<(PixelFormat, [u8; 4])> = wanted
                .into_iter()
                .filter_map(|f| {
                    offered
                        .iter()
                        .find(|o| PixelFormat::from_fourcc(o) == Some(f))
                        .map(|o| (f, *o))
                })
                .collect();
            // A format that has the asked size beats a preferred one that does not.
            let sizes: Vec<Option<Vec<(u32, u32)>>> = usable
                .iter()
                .map(|(_, code)| discrete_sizes(&dev, *code))
                .collect();
            let pick = (0..usable.len())
                .find(|&i| sizes[i].as_ref().is_none_or(|s| s.contains(&(w, h))))
                .unwrap_or(0);
            let (_, code) = usable.get(pick).copied().with_context(|| {
                let names: Vec<String> = offered
                    .iter()
                    .map(|o| String::from_utf8_lossy(o).into_owned())
                    .collect();
                format!(
                    "{}: offers {} but we decode only YUYV, MJPEG and RGB3",
                    path.display(),
                    names.join(", ")
                )
            })?;
            let fourcc_name = String::from_utf8_lossy(&code).into_owned();
            // Drivers either adjust an unsupported size themselves (uvcvideo) or refuse it
            // (v4l2loopback), so a size the camera does not list is replaced here by the
            // nearest one it does, and the log says so.
            let (w, h) = match &sizes[pick] {
                Some(list) if !list.contains(&(w, h)) => match nearest_size(list, (w, h)) {
                    Some((nw, nh)) => {
                        let names: Vec<String> =
                            list.iter().map(|(a, b)| format!("{a}x{b}")).collect();
                        eprintln!(
                            "note: camera {} offers no {w}x{h} {fourcc_name} (it offers {}); using {nw}x{nh}",
                            path.display(),
                            names.join(", ")
                        );
                        (nw, nh)
                    }
                    None => (w, h),
                },
                _ => (w, h),
            };
            let asked = PixFormat::new(w, h, Fourcc::from_fourcc(code));
            let dev = dev.video_capture(asked).with_context(|| {
                format!(
                    "{}: cannot set {}x{} {}",
                    path.display(),
                    w,
                    h,
                    String::from_utf8_lossy(&code)
                )
            })?;
            let fmt = dev.format();
            let (width, height, stride) = (fmt.width(), fmt.height(), fmt.bytes_per_line());
            let got = fmt.pixel_format().as_fourcc();
            if (width, height) != (w, h) {
                eprintln!(
                    "note: camera {} gave {width}x{height} when asked for {w}x{h}; using {width}x{height}",
                    path.display()
                );
            }
            let format = PixelFormat::from_fourcc(&got).with_context(|| {
                format!(
                    "{}: driver switched to format {} which we cannot decode",
                    path.display(),
                    String::from_utf8_lossy(&got)
                )
            })?;
            // The rate is a request; some drivers refuse to change it, which is fine.
            let fps = dev
                .set_frame_interval(Fract::new(1, fps.max(1)))
                .ok()
                .map(|t| t.denominator() as f64 / t.numerator().max(1) as f64);
            let stream = dev
                .into_stream()
                .with_context(|| format!("{}: cannot map capture buffers", path.display()))?;
            let layout = FrameLayout {
                width,
                height,
                stride,
                format,
            };
            Ok(Self {
                stream,
                layout,
                fps,
            })
        }

        /// The negotiated frame size.
        pub fn size(&self) -> (u32, u32) {
            (self.layout.width, self.layout.height)
        }

        pub fn describe(&self) -> String {
            let l = &self.layout;
            let fps = self
                .fps
                .map(|f| format!(" at {f:.0} fps"))
                .unwrap_or_default();
            format!(
                "{}x{} {}{fps}",
                l.width,
                l.height,
                String::from_utf8_lossy(&l.format.fourcc())
            )
        }

        /// The next buffer, copied out undecoded (see `Pixels`).
        pub fn capture(&mut self) -> Result<Pixels> {
            wait_readable(self.stream.as_raw_fd(), CAPTURE_TIMEOUT)?;
            // As in `open`: a driver's bad buffer index or size is a fault, not a crash.
            let data = catch_unwind(AssertUnwindSafe(|| {
                // MJPEG frames vary in size: the view holds only the `bytesused` bytes.
                self.stream.dequeue(|buf| Ok(buf.to_vec()))
            }))
            .map_err(|_| anyhow!("the driver returned a buffer out of range"))?
            .context("capture failed (unplugged?)")?;
            Ok(Pixels::Raw {
                data,
                layout: self.layout,
            })
        }
    }

    /// The sizes a format lists one by one; None for a range (any size in it is taken)
    /// or a driver that does not say.
    fn discrete_sizes(dev: &Device, code: [u8; 4]) -> Option<Vec<(u32, u32)>> {
        match dev.frame_sizes(Fourcc::from_fourcc(code)).ok()? {
            FrameSizes::Discrete(v) => Some(v.iter().map(|s| (s.width(), s.height())).collect()),
            _ => None,
        }
    }

    /// Waits until a filled buffer can be dequeued, so a camera that stops delivering
    /// becomes an error instead of a capture thread blocked forever.
    fn wait_readable(fd: i32, timeout: Duration) -> Result<()> {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        loop {
            // SAFETY: one valid pollfd, and its count.
            let n = unsafe { libc::poll(&mut p, 1, ms) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e).context("waiting for a frame");
            }
            if n == 0 {
                bail!("no frame for {} s", timeout.as_secs_f64());
            }
            if p.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                bail!("the device reported an error (unplugged?)");
            }
            return Ok(());
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod device {
    use std::path::Path;

    use anyhow::{bail, Result};

    use crate::live::source::Pixels;

    pub fn can_capture(_: &Path) -> bool {
        false
    }

    pub struct Connection;

    impl Connection {
        pub fn open(path: &Path, _: (u32, u32), _: u32) -> Result<Self> {
            bail!(
                "{}: v4l2 cameras are only supported on Linux",
                path.display()
            )
        }
        pub fn size(&self) -> (u32, u32) {
            (0, 0)
        }
        pub fn describe(&self) -> String {
            String::new()
        }
        pub fn capture(&mut self) -> Result<Pixels> {
            bail!("no camera support on this platform")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
        let secs: Vec<f64> = (0..8).map(|_| b.next_delay().as_secs_f64()).collect();
        assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn nearest_size_is_uvcvideos_choice() {
        let offered = [(160, 120), (320, 240), (1280, 720)];
        assert_eq!(nearest_size(&offered, (640, 480)), Some((320, 240)));
        assert_eq!(nearest_size(&offered, (1920, 1080)), Some((1280, 720)));
        assert_eq!(nearest_size(&offered, (100, 80)), Some((160, 120)));
        assert_eq!(nearest_size(&offered, (320, 240)), Some((320, 240)));
        assert_eq!(nearest_size(&[], (320, 240)), None);
    }

    #[test]
    fn missing_camera_gives_cards_and_backs_off() {
        let mut cam = CameraSource::new(Path::new("/dev/video_missing_for_test"), (64, 48), 30);
        let f = cam.next_frame().unwrap();
        assert!(f.card);
        assert_eq!(f.pixels.into_rgb().unwrap().dimensions(), (64, 48));
        assert_eq!(cam.attempts, 1);
        assert!(
            cam.last_error.contains("video_missing_for_test"),
            "{}",
            cam.last_error
        );
        assert!(cam.describe().contains("not connected"));
    }
}
