//! Training data: a folder of photos searched recursively, each resized so its short
//! side is `image_size`, randomly cropped square and randomly flipped.
//!
//! Every random choice is a pure function of (seed, epoch, position in epoch), so the
//! data order and augmentation after a resume are exactly those of an uninterrupted
//! run, and decoding can run on any number of threads.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use image::{imageops::FilterType, RgbImage};
use rand::{seq::SliceRandom, Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use stylecast::io::image::{images_in, load_rgb};

pub struct Dataset {
    pub root: PathBuf,
    pub files: Vec<PathBuf>,
    pub image_size: u32,
    pub seed: u64,
    /// Files that failed to decode, each reported once.
    skipped: Mutex<HashSet<PathBuf>>,
    pub skipped_count: AtomicUsize,
}

pub(crate) fn mix(seed: u64, a: u64, b: u64) -> u64 {
    // splitmix64 over the three inputs: distinct streams per (seed, epoch, position).
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Dataset {
    /// Lists image files under `root` (jpg, png, webp), sorted for reproducibility.
    pub fn scan(root: &Path, image_size: u32, seed: u64) -> Result<Self> {
        if !root.is_dir() {
            bail!("{}: dataset folder not found", root.display());
        }
        let files = images_in(root)?;
        if image_size < 16 {
            bail!("--image-size {image_size} is too small (at least 16)");
        }
        Ok(Self {
            root: root.into(),
            files,
            image_size,
            seed,
            skipped: Mutex::default(),
            skipped_count: AtomicUsize::new(0),
        })
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The shuffled order of `epoch`.
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(
            self.seed,
            epoch,
            u64::MAX,
        )));
        order
    }

    /// The augmented sample at global sample index `g` (step * batch + k). An unreadable
    /// file is replaced by the next one in the epoch's order, deterministically.
    pub fn sample(&self, g: u64, order_cache: &dyn Fn(u64) -> Arc<Vec<usize>>) -> Result<RgbImage> {
        let n = self.files.len() as u64;
        let (epoch, pos) = (g / n, g % n);
        let order = order_cache(epoch);
        for j in 0..n {
            let path = &self.files[order[((pos + j) % n) as usize]];
            match load_rgb(path) {
                Ok(img) => {
                    let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, epoch, pos));
                    return Ok(augment(&img, self.image_size, &mut rng));
                }
                Err(e) => {
                    if self.skipped.lock().expect("lock").insert(path.clone()) {
                        self.skipped_count.fetch_add(1, Ordering::Relaxed);
                        eprintln!("skipping unreadable training image: {e}");
                    }
                }
            }
        }
        bail!(
            "{}: none of the {} image files could be read",
            self.root.display(),
            n
        )
    }
}

/// A `size`-pixel square of `img`: the square a crop of the photo resized to short side
/// `size` would show, at the offset `offset` picks in that resized photo (given the largest
/// offset, for x then y). The square is cut from the photo first and only it is resized,
/// so the work stays at `size` x `size` whatever the aspect ratio: resized first, a
/// 16384x2 photo would be two million pixels wide.
fn crop_square(img: &RgbImage, size: u32, mut offset: impl FnMut(u32) -> u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let side = w.min(h);
    let s = size as f64 / side as f64;
    // The resized photo's sides (neither below `size`), as resizing first would make them.
    let (nw, nh) = (
        ((w as f64 * s).round() as u32).max(size),
        ((h as f64 * s).round() as u32).max(size),
    );
    let to_photo = |o: u32, len: u32| ((o as f64 / s).round() as u32).min(len - side);
    let x = to_photo(offset(nw - size), w);
    let y = to_photo(offset(nh - size), h);
    let square = image::imageops::crop_imm(img, x, y, side, side);
    image::imageops::resize(&*square, size, size, FilterType::Triangle)
}

/// Short side to `size`, then the centre square: the deterministic twin of [`augment`].
pub fn center_square(img: &RgbImage, size: u32) -> RgbImage {
    crop_square(img, size, |max| max / 2)
}

/// Short side to `size` (aspect kept), random square crop, random horizontal flip.
pub fn augment(img: &RgbImage, size: u32, rng: &mut impl Rng) -> RgbImage {
    let mut crop = crop_square(img, size, |max| rng.gen_range(0..=max));
    if rng.gen_bool(0.5) {
        image::imageops::flip_horizontal_in_place(&mut crop);
    }
    crop
}

/// Images to an (N, 3, S, S) f32 tensor in [0, 255] on the CPU.
pub fn batch_tensor(imgs: &[RgbImage]) -> candle_core::Result<Tensor> {
    let (w, h) = imgs[0].dimensions();
    let mut data = Vec::with_capacity(imgs.len() * 3 * (w * h) as usize);
    for img in imgs {
        for c in 0..3 {
            data.extend(img.pixels().map(|p| p.0[c] as f32));
        }
    }
    Tensor::from_vec(data, (imgs.len(), 3, h as usize, w as usize), &Device::Cpu)
}

/// Decodes batches ahead of the training loop on worker threads, in step order.
pub struct Prefetcher {
    rx: mpsc::Receiver<Result<(u64, Tensor)>>,
    _thread: std::thread::JoinHandle<()>,
}

impl Prefetcher {
    pub fn start(
        ds: Arc<Dataset>,
        batch: usize,
        first_step: u64,
        end_step: u64,
        depth: usize,
    ) -> Self {
        let (tx, rx) = mpsc::sync_channel(depth);
        let thread = std::thread::spawn(move || {
            let cache: Mutex<Option<(u64, Arc<Vec<usize>>)>> = Mutex::new(None);
            let order = |epoch: u64| -> Arc<Vec<usize>> {
                let mut c = cache.lock().expect("lock");
                match &*c {
                    Some((e, o)) if *e == epoch => o.clone(),
                    _ => {
                        let o = Arc::new(ds.epoch_order(epoch));
                        *c = Some((epoch, o.clone()));
                        o
                    }
                }
            };
            for step in first_step..end_step {
                let imgs: Result<Vec<RgbImage>> = (0..batch as u64)
                    .into_par_iter()
                    .map(|k| ds.sample(step * batch as u64 + k, &order))
                    .collect();
                let item = imgs
                    .and_then(|imgs| batch_tensor(&imgs).context("batch tensor"))
                    .map(|t| (step, t));
                let failed = item.is_err();
                if tx.send(item).is_err() || failed {
                    return; // the trainer stopped, or the data is unusable
                }
            }
        });
        Self {
            rx,
            _thread: thread,
        }
    }

    pub fn next(&self) -> Result<(u64, Tensor)> {
        self.rx.recv().context("data loader stopped unexpectedly")?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth picture, so resampling differences stay small.
    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x + y) % 256) as u8,
            ])
        })
    }

    #[test]
    fn crops_match_resizing_first_on_ordinary_photos() {
        let img = gradient(320, 240);
        // What resizing the whole photo first (short side 64, 85x64) then cropping gives.
        let resized = image::imageops::resize(&img, 85, 64, FilterType::Triangle);
        let reference = image::imageops::crop_imm(&resized, 10, 0, 64, 64).to_image();
        let ours = crop_square(&img, 64, |max| {
            assert!(max == 21 || max == 0, "largest offset {max}");
            max.min(10)
        });
        let psnr = stylecast::io::image::psnr(&ours, &reference);
        assert!(psnr > 30.0, "PSNR {psnr:.1} dB against resize-then-crop");
        let c = center_square(&img, 64);
        assert_eq!(c.dimensions(), (64, 64));
    }

    #[test]
    fn extreme_aspect_ratios_crop_within_the_photo() {
        // 16384x2 and 2x16384: the square is 2x2 of the photo, wherever the offset falls.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for img in [gradient(16384, 2), gradient(2, 16384)] {
            for _ in 0..8 {
                assert_eq!(augment(&img, 256, &mut rng).dimensions(), (256, 256));
            }
            assert_eq!(center_square(&img, 64).dimensions(), (64, 64));
            // The largest offset lands on the photo's last square.
            assert_eq!(crop_square(&img, 64, |max| max).dimensions(), (64, 64));
        }
    }
}
