//! stylecast: fast neural style transfer (Johnson, Alahi & Fei-Fei 2016) in Rust.
//!
//! The image transformation network, its model file format, image/tensor
//! conversion and a stylizing API shared by the trainer and the edge runtime.

pub mod config;
pub mod conv;
mod cpu_values;
#[cfg(feature = "cudnn")]
pub mod cudnn_conv;
pub mod device;
pub mod error;
pub mod image_io;
pub mod instance_norm;
pub mod model_file;
pub mod padding;
pub mod pool;
pub mod relu;
pub mod stylize;
pub mod subpixel;
pub mod transformer;
pub mod upsample;

#[cfg(feature = "cuda")]
mod cuda_link_stubs;

pub use config::NetConfig;
pub use device::parse_device;
pub use error::{Error, Result};
pub use model_file::{ModelFile, ModelMeta};
pub use stylize::{Precision, StylizeOptions, Stylizer};
pub use transformer::TransformerNet;

use std::path::Path;

/// Tunes glibc's malloc for frame-by-frame work and training steps, which allocate and free
/// the same large tensors over and over: every block comes from the heap, never a fresh
/// `mmap` (a mapping is faulted in and zeroed page by page on each use, and activations of
/// 64 channels at 256x256 and batch 4, or 16 at 1280x720, exceed the largest mmap threshold
/// glibc allows), freed memory stays in the process, and all threads share one arena (live
/// mode runs the network on its own thread, whose per-thread arena unmapped its 64 MB heaps
/// when they emptied: 880 000 page faults in 30 frames of 320x240 against 21 000, and 30-45%
/// more time per frame). Training: 5.1M -> 1.1M page faults per two steps at batch 4;
/// frames: 77% fewer faults and 22% less CPU (BENCHMARKS.md). The process keeps its peak
/// heap, which a frame or step loop reuses anyway. Call once at start-up, before any
/// threads; a no-op off glibc.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any worker threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Lets candle's CPU worker threads sleep as soon as an element-wise op is done instead of
/// spinning (candle's default is 25 000 spins, `CANDLE_BARRIER_POOL_SPIN_LIMIT`). A frame is
/// many small element-wise ops, after each of which the worker spun beside the GEMM threads
/// and the camera and window threads: a quarter of the CPU samples of a small-network frame
/// on 2 cores. Parking at once gave 6-52% more live fps there with the small network and no
/// loss with the default one (BENCHMARKS.md). A value already in the environment is kept.
/// Call at start-up, before any thread or tensor op.
pub fn tune_cpu_workers_for_frames() {
    if std::env::var_os(SPIN_LIMIT_VAR).is_none() {
        std::env::set_var(SPIN_LIMIT_VAR, "1");
    }
}

/// candle's setting for how often its CPU workers spin before they sleep.
const SPIN_LIMIT_VAR: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, synced,
/// then renamed over the target. A crash leaves either the old file or the new one.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

/// Helpers for the unit tests of several modules.
#[cfg(test)]
pub(crate) mod test_util {
    use candle_core::{DType, Device, Tensor};

    /// Largest absolute difference over the largest magnitude of `want`, computed in f64 on
    /// the CPU whatever the tensors' device and dtype.
    pub fn max_rel(got: &Tensor, want: &Tensor) -> f64 {
        let cpu64 = |t: &Tensor| {
            t.to_device(&Device::Cpu)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
        };
        let (got, want) = (cpu64(got), cpu64(want));
        let max_abs = |t: &Tensor| {
            t.abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        max_abs(&(&got - &want).unwrap()) / max_abs(&want).max(1e-30)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn worker_spin_is_lowered_unless_already_set() {
        use super::{tune_cpu_workers_for_frames, SPIN_LIMIT_VAR};
        std::env::set_var(SPIN_LIMIT_VAR, "777");
        tune_cpu_workers_for_frames();
        assert_eq!(std::env::var(SPIN_LIMIT_VAR).as_deref(), Ok("777"));
        std::env::remove_var(SPIN_LIMIT_VAR);
        tune_cpu_workers_for_frames();
        assert_eq!(std::env::var(SPIN_LIMIT_VAR).as_deref(), Ok("1"));
    }
}
