//! How much memory this machine (or its container) has free, so that work which cannot
//! fit is refused with a message before it is allocated, instead of the process being
//! killed half-way.

use crate::error::{Error, Result};

/// Bytes available for new allocations: the kernel's `MemAvailable`, lowered to what the
/// cgroup v2 limit leaves, if any; `None` where neither can be read.
pub fn available_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let host = meminfo.as_deref().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemAvailable:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let cgroup = (|| {
        let max = std::fs::read_to_string("/sys/fs/cgroup/memory.max").ok()?;
        let max: u64 = max.trim().parse().ok()?; // "max" (no limit) does not parse
        let cur: u64 = std::fs::read_to_string("/sys/fs/cgroup/memory.current")
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(max.saturating_sub(cur))
    })();
    match (host, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// An error when `need` bytes do not fit in `available` (unknown: assumed to fit);
/// `what` says what needs them, e.g. "decoding photo.jpg (8000x6000)".
pub fn check_fits(need: u64, available: Option<u64>, what: &str) -> Result<()> {
    match available {
        Some(a) if need > a => Err(Error::Invalid(format!(
            "{what} needs about {} of memory, and {} is available",
            human(need),
            human(a)
        ))),
        _ => Ok(()),
    }
}

/// `1.5 GB`, `320 MB`.
pub fn human(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.1} GB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{} MB", bytes.div_ceil(1 << 20))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_only_what_does_not_fit() {
        assert!(check_fits(100, Some(200), "x").is_ok());
        assert!(check_fits(100, None, "x").is_ok());
        let e = check_fits(3 << 30, Some(1 << 30), "decoding a.png (16384x16384)")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("decoding a.png (16384x16384) needs about 3.0 GB of memory, and 1.0 GB is available"),
            "{e}"
        );
        assert!(available_bytes().is_some_and(|b| b > 0));
    }
}
