//! Helpers for the live-mode tests: a private Xvfb server, window captures (XWD parsed
//! here, so only `xwd` is needed), a model whose output is a visible picture, image diffs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use candle_core::{Device, Tensor};
use image::RgbImage;
use stylecast::ModelFile;
use stylecast_e2e::conformance;

/// A virtual X server on a display number of its own, killed on drop.
pub struct Xvfb {
    pub display: String,
    child: Child,
    // Kept open: Xvfb would get SIGPIPE if it wrote to a closed stdout.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Xvfb {
    /// Starts one at `width`x`height`, or returns None (saying so loudly) when Xvfb is not
    /// installed. CI installs it (.ci/run), so there the window tests really run.
    pub fn start(width: u32, height: u32) -> Option<Self> {
        if Command::new("Xvfb")
            .arg("-help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            eprintln!("\n!!!! SKIPPED: the Xvfb binary is missing (apt-get install xvfb x11-apps); window test not run !!!!\n");
            return None;
        }
        // -displayfd: Xvfb picks a free display number itself and writes it to the given
        // fd (our stdout pipe) once it accepts connections. One at a time within a test
        // binary: two servers choosing at the same moment can both take a stale lock of a
        // killed server (CI once saw a test's display vanish: XOpenDisplay failed on :0).
        static CHOOSING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = CHOOSING.lock().unwrap_or_else(|e| e.into_inner());
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                &format!("{width}x{height}x24"),
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let mut line = String::new();
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("Xvfb stdout"));
        let read = std::io::BufRead::read_line(&mut stdout, &mut line);
        match (read, line.trim().parse::<u32>()) {
            (Ok(_), Ok(n)) => Some(Self {
                display: format!(":{n}"),
                child,
                _stdout: stdout,
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("Xvfb did not report a display number (got {line:?})");
            }
        }
    }

    /// The named window's pixels, or None while there is no such window.
    pub fn capture_window(&self, name: &str) -> Option<RgbImage> {
        self.xwd(&["-name", name])
    }

    /// The whole screen.
    pub fn capture_root(&self) -> Option<RgbImage> {
        self.xwd(&["-root"])
    }

    fn xwd(&self, what: &[&str]) -> Option<RgbImage> {
        let out = Command::new("xwd")
            .args(["-display", &self.display, "-silent"])
            .args(what)
            .stderr(Stdio::null())
            .output()
            .expect("run xwd (apt-get install x11-apps)");
        if !out.status.success() {
            return None;
        }
        parse_xwd(&out.stdout)
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        // SIGTERM first: Xvfb then removes its lock file and socket (SIGKILL leaves them).
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..40 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Decodes an XWD dump of a 24/32-bit TrueColor ZPixmap (what Xvfb -screen ...x24 gives).
pub fn parse_xwd(data: &[u8]) -> Option<RgbImage> {
    let field = |i: usize| -> Option<u32> {
        Some(u32::from_be_bytes(
            data.get(i * 4..i * 4 + 4)?.try_into().ok()?,
        ))
    };
    let header_size = field(0)? as usize;
    let (width, height) = (field(4)?, field(5)?);
    let byte_order = field(7)?; // 0: LSB first
    let bits_per_pixel = field(11)?;
    let bytes_per_line = field(12)? as usize;
    let (rmask, gmask, bmask) = (field(14)?, field(15)?, field(16)?);
    let ncolors = field(19)? as usize;
    if bits_per_pixel != 32 {
        panic!("xwd gave {bits_per_pixel} bits per pixel; expected a 24-bit display (32 bpp)");
    }
    let start = header_size + ncolors * 12;
    let shift = |m: u32| m.trailing_zeros();
    let mut img = RgbImage::new(width, height);
    for y in 0..height as usize {
        for x in 0..width as usize {
            let i = start + y * bytes_per_line + x * 4;
            let b: [u8; 4] = data.get(i..i + 4)?.try_into().ok()?;
            let p = if byte_order == 0 {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            };
            let c = |m: u32| ((p & m) >> shift(m)) as u8;
            img.put_pixel(
                x as u32,
                y as u32,
                image::Rgb([c(rmask), c(gmask), c(bmask)]),
            );
        }
    }
    Some(img)
}

/// A model whose output is a picture: the conformance network (untrained, outputs about
/// ±2 around 0, i.e. black once clamped) with its last layer scaled by 40 and shifted
/// to mid-grey, so the stylized frame is a textured image that depends on the input.
pub fn visible_model(dir: &Path, name: &str, gain: f64) -> PathBuf {
    let mut m = ModelFile::load(
        &conformance("transformer_net/model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let w: &Tensor = &m.tensors["deconv3.conv2d.weight"];
    let b: &Tensor = &m.tensors["deconv3.conv2d.bias"];
    let (w, b) = ((w * gain).unwrap(), ((b * gain).unwrap() + 128.0).unwrap());
    m.tensors.insert("deconv3.conv2d.weight".into(), w);
    m.tensors.insert("deconv3.conv2d.bias".into(), b);
    m.meta.style = name.to_string();
    let path = dir.join(format!("{name}.safetensors"));
    m.save(&path).unwrap();
    path
}

/// Mean absolute difference per channel value (0..255).
pub fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions(), "sizes differ");
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (x as f64 - y as f64).abs())
        .sum::<f64>()
        / a.as_raw().len() as f64
}

/// Box-averages by an integer factor (comparing an up-scaled window with its source).
pub fn shrink(img: &RgbImage, k: u32) -> RgbImage {
    RgbImage::from_fn(img.width() / k, img.height() / k, |x, y| {
        let mut s = [0u32; 3];
        for dy in 0..k {
            for dx in 0..k {
                let p = img.get_pixel(x * k + dx, y * k + dy).0;
                for c in 0..3 {
                    s[c] += p[c] as u32;
                }
            }
        }
        image::Rgb(s.map(|v| (v / (k * k)) as u8))
    })
}

/// PNG files in a folder, sorted.
pub fn pngs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "png"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Kills a child on drop, so a failed assertion does not leave a runtime running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
