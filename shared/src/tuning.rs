//! Process-wide tuning for frame-by-frame work and training steps: glibc's malloc and
//! candle's CPU worker threads. Both are called once at start-up by the binaries.

/// Tunes glibc's malloc for loops that allocate and free the same large tensors over and
/// over: every block comes from the heap, never a fresh `mmap` (a mapping is faulted in and
/// zeroed page by page on each use, and the network's activations exceed the largest mmap
/// threshold glibc allows), freed memory stays in the process, and all threads share one
/// arena (a per-thread arena of the network's thread unmapped its heaps whenever they
/// emptied). Far fewer page faults and less CPU per frame and step (BENCHMARKS.md); the
/// process keeps its peak heap, which the loop reuses anyway. Call once at start-up, before
/// any threads; a no-op off glibc.
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
/// spinning (`CANDLE_BARRIER_POOL_SPIN_LIMIT`, 25 000 spins by default). A frame is many
/// small element-wise ops, after each of which the workers spun beside the GEMM, camera and
/// window threads; parking at once gives more live fps on small CPUs (BENCHMARKS.md). A
/// value already in the environment is kept. Call at start-up, before any thread or tensor
/// op.
pub fn tune_cpu_workers_for_frames() {
    if std::env::var_os(SPIN_LIMIT_VAR).is_none() {
        std::env::set_var(SPIN_LIMIT_VAR, "1");
    }
}

/// candle's setting for how often its CPU workers spin before they sleep.
const SPIN_LIMIT_VAR: &str = "CANDLE_BARRIER_POOL_SPIN_LIMIT";

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
