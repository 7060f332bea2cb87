//! The real v4l2 code path without a camera: `tests/fakecam/fakecam.c`, built here with the
//! system C compiler, is preloaded into `edge-runtime` and makes /dev/video42 answer as a
//! UVC webcam (YUYV and MJPEG, paced, with faults on request). See the C file's header
//! for its settings.

mod live_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use image::RgbImage;
use live_support::{mean_abs_diff, pngs, KillOnDrop};
use stylecast::{Precision, StylizeOptions, Stylizer};
use stylecast_e2e::{bin, repo_root, shared_dir};

const CAMERA: &str = "/dev/video42";

/// The preload library, compiled once per test run.
fn fakecam() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let src = repo_root().join("tests/fakecam/fakecam.c");
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let out = dir.join("fakecam.so");
        let tmp = dir.join(format!("fakecam.{}.so", std::process::id()));
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let o = Command::new(&cc)
            .args(["-shared", "-fPIC", "-O2", "-Wall", "-o"])
            .arg(&tmp)
            .arg(&src)
            .args(["-ldl", "-lpthread"])
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run the C compiler {cc:?} (apt-get install gcc): {e}")
            });
        assert!(
            o.status.success(),
            "building {} failed:\n{}",
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        std::fs::rename(&tmp, &out).unwrap();
        out
    })
}

/// A fake camera's settings (FAKECAM_*) and where its event log goes.
struct FakeCam {
    env: Vec<(String, String)>,
    log: PathBuf,
}

impl FakeCam {
    fn new(dir: &Path) -> Self {
        Self {
            env: vec![],
            log: dir.join("fakecam.log"),
        }
    }
    fn set(mut self, key: &str, value: impl ToString) -> Self {
        self.env.push((format!("FAKECAM_{key}"), value.to_string()));
        self
    }
    /// `edge-runtime` with the fake camera preloaded, no display.
    fn command(&self) -> Command {
        let mut c = Command::new(bin("edge-runtime"));
        c.env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("LD_PRELOAD", fakecam())
            .env("FAKECAM_PATH", CAMERA)
            .env("FAKECAM_LOG", &self.log)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn small_model() -> PathBuf {
    repo_root().join("models/small/starry_night.safetensors")
}

/// Live-run flags for the fake camera at `size`, inference at the same size (so no
/// resizing sits between the camera's picture and the network).
fn live_args(size: &str, out: &Path) -> Vec<String> {
    [
        "--model",
        small_model().to_str().unwrap(),
        "--source",
        "camera",
        "--camera",
        CAMERA,
        "--camera-size",
        size,
        "--infer-size",
        size,
        "--headless",
        "--output",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A real photo at `w`x`h`: what the fake camera films.
fn picture(w: u32, h: u32) -> RgbImage {
    let photo = shared_dir().join("data/content/test/chicago.jpg");
    let img = stylecast::io::image::load_rgb(&photo).unwrap();
    image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
}

/// BT.601 limited range, as UVC cameras encode YUYV; chroma averaged over each pair.
fn rgb_to_yuyv(img: &RgbImage) -> Vec<u8> {
    let yuv = |p: [u8; 3]| {
        let [r, g, b] = p.map(|v| v as f64);
        (
            16.0 + 0.257 * r + 0.504 * g + 0.098 * b,
            128.0 - 0.148 * r - 0.291 * g + 0.439 * b,
            128.0 + 0.439 * r - 0.368 * g - 0.071 * b,
        )
    };
    let q = |v: f64| v.round().clamp(0.0, 255.0) as u8;
    let mut out = Vec::with_capacity(img.len() / 3 * 2);
    for y in 0..img.height() {
        for x in (0..img.width()).step_by(2) {
            let (y0, u0, v0) = yuv(img.get_pixel(x, y).0);
            let (y1, u1, v1) = yuv(img.get_pixel(x + 1, y).0);
            out.extend([q(y0), q((u0 + u1) / 2.0), q(y1), q((v0 + v1) / 2.0)]);
        }
    }
    out
}

/// The reference decoding of YUYV (floating point, independent of the runtime's fixed
/// point one, which may differ from it by one level).
fn yuyv_to_rgb(data: &[u8], w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let i = (y * w + x / 2 * 2) as usize * 2;
        let luma = data[i + if x % 2 == 0 { 0 } else { 2 }] as f64;
        let (u, v) = (data[i + 1] as f64 - 128.0, data[i + 3] as f64 - 128.0);
        let c = 1.164 * (luma - 16.0);
        let q = |v: f64| v.round().clamp(0.0, 255.0) as u8;
        image::Rgb([
            q(c + 1.596 * v),
            q(c - 0.392 * u - 0.813 * v),
            q(c + 2.017 * u),
        ])
    })
}

/// A JPEG of `img` the way UVC cameras send MJPEG: without Huffman tables.
fn mjpeg(img: &RgbImage) -> Vec<u8> {
    let mut full = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut full, 90)
        .encode_image(img)
        .unwrap();
    let mut out = full[..2].to_vec();
    let mut i = 2;
    while full[i + 1] != 0xDA {
        let len = u16::from_be_bytes([full[i + 2], full[i + 3]]) as usize;
        if full[i + 1] != 0xC4 {
            out.extend_from_slice(&full[i..i + 2 + len]);
        }
        i += 2 + len;
    }
    out.extend_from_slice(&full[i..]);
    assert!(out.len() < full.len(), "the encoder wrote no DHT to strip");
    out
}

/// What the library makes of `input` with the live run's defaults.
fn library_output(input: &RgbImage) -> RgbImage {
    let s = Stylizer::load(
        &small_model(),
        &candle_core::Device::Cpu,
        Precision::default(),
    )
    .unwrap();
    s.stylize(input, &StylizeOptions::default()).unwrap()
}

/// The "reconnecting" card: mostly its dark background.
fn is_card(img: &RgbImage) -> bool {
    img.pixels().filter(|p| p.0 == [24, 26, 34]).count() > img.len() / 3 / 2
}

/// The output frames must be the library's stylization of what the camera sent. Live
/// and library run the same network on the same input (MJPEG: the same decoder, so the
/// frames come out identical); the only differences allowed are the two YUYV decoders'
/// rounding (one level in some pixels, which the network carries through) and f32
/// summation order: a mean below one level per channel value. A decoding error moves
/// the mean by several levels (swapped chroma: about 9, a grey half from a cut JPEG:
/// about 20).
fn assert_frames_match(out: &Path, expected: &RgbImage, o: &Output) {
    let files = pngs(out);
    assert!(files.len() >= 2, "{}", text(o));
    for f in &files {
        let got = image::open(f).unwrap().to_rgb8();
        assert_eq!(got.dimensions(), expected.dimensions(), "{}", f.display());
        let d = mean_abs_diff(&got, expected);
        assert!(
            d < 1.0,
            "{}: differs from the library by {d:.2} levels",
            f.display()
        );
    }
}

#[test]
fn yuyv_frames_flow_and_match_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let pic = picture(160, 120);
    let yuyv = rgb_to_yuyv(&pic);
    std::fs::write(dir.path().join("frame.yuyv"), &yuyv).unwrap();
    let cam = FakeCam::new(dir.path())
        .set("FORMATS", "YUYV")
        .set("YUYV", dir.path().join("frame.yuyv").display());
    let out = dir.path().join("out");
    let o = cam
        .command()
        .args(live_args("160x120", &out))
        .args(["--frames", "3"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("camera /dev/video42: 160x120 YUYV at 30 fps"),
        "{err}"
    );
    assert!(cam.log().contains("STREAMON 160x120 YUYV"), "{}", cam.log());
    assert_frames_match(&out, &library_output(&yuyv_to_rgb(&yuyv, 160, 120)), &o);
}

#[test]
fn mjpeg_frames_flow_and_match_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let frame = mjpeg(&picture(160, 120));
    std::fs::write(dir.path().join("frame.jpg"), &frame).unwrap();
    let cam = FakeCam::new(dir.path())
        .set("FORMATS", "MJPG")
        .set("MJPEG", dir.path().join("frame.jpg").display());
    let out = dir.path().join("out");
    let o = cam
        .command()
        .args(live_args("160x120", &out))
        .args(["--frames", "3"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("camera /dev/video42: 160x120 MJPG"), "{err}");
    // The picture as the camera's JPEG holds it (the image crate decodes it once the
    // standard tables are back, as the runtime does).
    let mut with_tables = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut with_tables, 90)
        .encode_image(&picture(160, 120))
        .unwrap();
    let sent = image::load_from_memory(&with_tables).unwrap().to_rgb8();
    assert_frames_match(&out, &library_output(&sent), &o);
}

/// Runs the fake camera until `done` holds for the frames written so far (or 40 s
/// pass), then stops the runtime; returns the frames (path, is a card) and stderr.
fn watch(
    cam: &FakeCam,
    args: &[String],
    cwd: &Path,
    out: &Path,
    done: impl Fn(&[(PathBuf, bool)]) -> bool,
) -> (Vec<(PathBuf, bool)>, String) {
    let stderr_path = cwd.join("stderr.txt");
    let child = cam
        .command()
        .current_dir(cwd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let t = Instant::now();
    let mut frames: Vec<(PathBuf, bool)> = vec![];
    while t.elapsed() < Duration::from_secs(40) && !done(&frames) {
        if let Ok(Some(_)) = child.0.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        // Frames are written atomically: a listed PNG is complete.
        for f in pngs(out) {
            if !frames.iter().any(|(p, _)| *p == f) {
                let img = image::open(&f).unwrap().to_rgb8();
                frames.push((f, is_card(&img)));
            }
        }
    }
    drop(child);
    (frames, std::fs::read_to_string(&stderr_path).unwrap())
}

/// The CLOCK_REALTIME time of the first fake-camera log line with `event`.
fn logged_at(log: &str, event: &str) -> SystemTime {
    let line = log
        .lines()
        .find(|l| l.contains(event))
        .unwrap_or_else(|| panic!("no {event:?} in the fake camera's log:\n{log}"));
    let secs: f64 = line.split(' ').next().unwrap().parse().unwrap();
    UNIX_EPOCH + Duration::from_secs_f64(secs)
}

#[test]
fn unplug_shows_the_card_at_once_and_a_replug_resumes_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("frame.jpg"), mjpeg(&picture(160, 120))).unwrap();
    let cam = FakeCam::new(dir.path())
        .set("FORMATS", "MJPG")
        .set("MJPEG", dir.path().join("frame.jpg").display())
        .set("UNPLUG_AFTER", 15)
        .set("REPLUG_MS", 1000);
    let out = dir.path().join("out");
    // Stylized, then cards, then stylized again.
    let resumed = |f: &[(PathBuf, bool)]| {
        let first_card = f.iter().position(|x| x.1);
        first_card.is_some_and(|c| c > 0 && f[c..].iter().any(|x| !x.1))
    };
    let (frames, err) = watch(&cam, &live_args("160x120", &out), dir.path(), &out, resumed);
    let log = cam.log();
    assert!(
        resumed(&frames),
        "frames (path, is card): {frames:?}\nstderr:\n{err}\nfake camera:\n{log}"
    );
    assert!(err.contains("capture failed"), "{err}");
    // One process: the device was opened again and streamed again.
    assert!(log.matches("STREAMON").count() >= 2, "{log}");
    assert!(log.contains("replug"), "{log}");
    let unplugged = logged_at(&log, "unplug after");
    let first_card = frames.iter().find(|x| x.1).unwrap();
    let shown = std::fs::metadata(&first_card.0)
        .unwrap()
        .modified()
        .unwrap();
    let delay = shown.duration_since(unplugged).unwrap_or_default();
    assert!(
        delay < Duration::from_secs(1),
        "the first card came {delay:?} after the unplug"
    );
    // And the frames after the replug are the camera's picture again.
    let last = image::open(&frames.last().unwrap().0).unwrap().to_rgb8();
    assert!(!is_card(&last));
}

#[test]
fn garbage_mjpeg_frames_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let pic = picture(160, 120);
    std::fs::write(dir.path().join("frame.jpg"), mjpeg(&pic)).unwrap();
    // Every other frame is garbage: random bytes, or the JPEG cut in half (which a
    // decoder alone turns into a picture with a grey bottom half).
    let cam = FakeCam::new(dir.path())
        .set("FORMATS", "MJPG")
        .set("MJPEG", dir.path().join("frame.jpg").display())
        .set("GARBAGE_EVERY", 2);
    let out = dir.path().join("out");
    let o = cam
        .command()
        .args(live_args("160x120", &out))
        .args(["--frames", "8"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(cam.log().contains("garbage frame"), "{}", cam.log());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("camera frame skipped"), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let skipped: u64 = stdout
        .split("skipped ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no skipped count in the summary: {}", text(&o)));
    assert!(skipped >= 1, "{stdout}");
    let mut with_tables = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut with_tables, 90)
        .encode_image(&pic)
        .unwrap();
    let sent = image::load_from_memory(&with_tables).unwrap().to_rgb8();
    assert_frames_match(&out, &library_output(&sent), &o);
}

#[test]
fn a_camera_that_never_delivers_gets_cards_and_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let cam = FakeCam::new(dir.path())
        .set("FORMATS", "YUYV")
        .set("STALL", 1);
    let out = dir.path().join("out");
    let o = cam
        .command()
        .args(live_args("160x120", &out))
        .args(["--frames", "2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("no frame for 3 s"), "{err}");
    let files = pngs(&out);
    assert_eq!(files.len(), 2);
    for f in files {
        assert!(
            is_card(&image::open(&f).unwrap().to_rgb8()),
            "{}",
            f.display()
        );
    }
}

#[test]
fn an_unsupported_size_falls_back_to_an_offered_one_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let cam = FakeCam::new(dir.path())
        .set("FORMATS", "YUYV,MJPG")
        .set("SIZES", "160x120,320x240");
    let out = dir.path().join("out");
    let mut args = live_args("640x480", &out);
    let i = args.iter().position(|a| a == "--infer-size").unwrap();
    args[i + 1] = "160x120".into();
    let o = cam
        .command()
        .args(&args)
        .args(["--frames", "2"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("offers no 640x480") && err.contains("using 320x240"),
        "{err}"
    );
    assert!(err.contains("camera /dev/video42: 320x240 YUYV"), "{err}");
    assert!(cam.log().contains("STREAMON 320x240"), "{}", cam.log());
    let files = pngs(&out);
    assert_eq!(files.len(), 2, "{}", text(&o));
    assert!(!is_card(&image::open(&files[0]).unwrap().to_rgb8()));
}

#[test]
fn no_arguments_picks_the_camera_when_one_is_present() {
    let real_camera = std::fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("video"))
        })
        .unwrap_or(false);
    if real_camera {
        eprintln!("!!!! a camera node exists here: the default run would prefer it; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The first style in ./models; a small one keeps it fast.
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    std::fs::copy(small_model(), dir.path().join("models/small.safetensors")).unwrap();
    let cam = FakeCam::new(dir.path());
    let out = dir.path().join("stylecast-out");
    let (frames, err) = watch(&cam, &[], dir.path(), &out, |f| !f.is_empty());
    assert!(
        err.contains("writing every 30th stylized camera frame")
            && err.contains("live: camera /dev/video42"),
        "{err}"
    );
    assert!(!frames.is_empty(), "no frame in stylecast-out\n{err}");
    assert!(!frames[0].1, "a card instead of a camera frame\n{err}");
}
