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

/// Tunes glibc's malloc for frame-by-frame work: blocks up to 32 MB (im2col bands,
/// activations) come from the heap rather than fresh `mmap`s, and freed memory stays in the
/// process rather than going back to the kernel after every layer, only to be faulted in and
/// zeroed again for the next one. On the CPU path that is 77% fewer page faults and 22% less
/// CPU time per frame (BENCHMARKS.md). The process keeps its peak heap, which a frame loop
/// reuses anyway. Call once at start-up; a no-op off glibc.
pub fn tune_malloc_for_frames() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any worker threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
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

/// Tunes glibc's malloc for training: as [`tune_malloc_for_frames`], and no `mmap` at all.
/// A training step's activations and gradients are mostly larger than the largest mmap
/// threshold glibc allows (32 MB; one 64-channel 256x256 map at batch 4 is 67 MB), so each
/// was a fresh mapping, faulted in and zeroed page by page: at batch 4, 256x256 that was
/// 1.7M page faults and a quarter of the CPU time per step. From the heap, freed blocks
/// are reused by the next step's tensors of the same sizes (BENCHMARKS.md).
pub fn tune_malloc_for_training() {
    tune_malloc_for_frames();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: as above.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
    }
}

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
