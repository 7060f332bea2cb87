//! `--cycle SECONDS`: when the kiosk moves on to the next style.

use std::time::{Duration, Instant};

/// `--cycle SECONDS`: says when to move to the next style; a manual switch restarts it.
pub struct StyleCycler {
    period: Duration,
    last: Instant,
}

impl StyleCycler {
    pub fn new(seconds: f64) -> Self {
        Self {
            period: Duration::from_secs_f64(seconds),
            last: Instant::now(),
        }
    }
    pub fn due(&mut self, now: Instant) -> bool {
        if now.duration_since(self.last) >= self.period {
            self.last = now;
            true
        } else {
            false
        }
    }
    pub fn restart(&mut self, now: Instant) {
        self.last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycler_fires_once_per_period() {
        let t0 = Instant::now();
        let mut c = StyleCycler::new(1.0);
        c.restart(t0);
        assert!(!c.due(t0 + Duration::from_millis(500)));
        assert!(c.due(t0 + Duration::from_millis(1000)));
        assert!(!c.due(t0 + Duration::from_millis(1500)));
        assert!(c.due(t0 + Duration::from_millis(2100)));
    }
}
