//! A rate limit for repeated warnings, so a persistent fault (a camera failing at its
//! frame rate) does not flood the log.

use std::time::{Duration, Instant};

/// Lets a repeated warning through at most once per period.
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
}

impl Throttle {
    pub fn new(every: Duration) -> Self {
        Self { every, last: None }
    }
    /// True at most once per period: whether to print the warning now.
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
}
