//! The hand-off between the live threads: a one-slot mailbox where the newest frame
//! replaces an unread one. A slow stage thus sees only the latest frame (the replaced
//! ones are counted as dropped) and latency never builds up in a queue.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A bounded channel of capacity one where the newest item wins.
pub struct Mailbox<T> {
    state: Mutex<Slot<T>>,
    ready: Condvar,
    dropped: AtomicU64,
}

struct Slot<T> {
    item: Option<T>,
    closed: bool,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Self {
            state: Mutex::new(Slot {
                item: None,
                closed: false,
            }),
            ready: Condvar::new(),
            dropped: AtomicU64::new(0),
        }
    }
}

impl<T> Mailbox<T> {
    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        // A panicking holder cannot leave a half-written Option: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `item` in the slot; an unread item there is dropped and counted.
    pub fn post(&self, item: T) {
        let mut s = self.lock();
        if s.item.replace(item).is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop(s);
        self.ready.notify_one();
    }

    /// The newest item, waiting up to `timeout` for one; None on timeout or once closed.
    pub fn take_timeout(&self, timeout: Duration) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            if let Some(v) = s.item.take() {
                return Some(v);
            }
            let now = Instant::now();
            if s.closed || now >= deadline {
                return None;
            }
            s = self
                .ready
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Wakes waiters for good (shutdown).
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use super::*;

    #[test]
    fn newest_item_wins_and_drops_are_counted() {
        let m = Mailbox::default();
        m.post(1);
        m.post(2);
        m.post(3);
        assert_eq!(m.take_timeout(Duration::ZERO), Some(3));
        assert_eq!(m.dropped(), 2);
        assert_eq!(m.take_timeout(Duration::from_millis(10)), None);
    }

    #[test]
    fn take_wakes_on_post_and_on_close() {
        let m = Arc::new(Mailbox::default());
        let m2 = m.clone();
        let h = std::thread::spawn(move || m2.take_timeout(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        m.post(7u8);
        assert_eq!(h.join().unwrap(), Some(7));
        let m2 = m.clone();
        let t = Instant::now();
        let h = std::thread::spawn(move || m2.take_timeout(Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        m.close();
        assert_eq!(h.join().unwrap(), None);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_slow_consumer_sees_bounded_latency() {
        // Producer at ~1 kHz, consumer at ~50 Hz: what the consumer gets is always fresh.
        let m = Arc::new(Mailbox::<Instant>::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (m2, s2) = (m.clone(), stop.clone());
        let producer = std::thread::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                m2.post(Instant::now());
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        for _ in 0..10 {
            std::thread::sleep(Duration::from_millis(20));
            let t = m.take_timeout(Duration::from_secs(1)).unwrap();
            // A queue would have grown by ~20 ms per round here; the slot stays fresh.
            assert!(
                t.elapsed() < Duration::from_millis(80),
                "stale item: {:?}",
                t.elapsed()
            );
        }
        stop.store(true, Ordering::Relaxed);
        producer.join().unwrap();
        assert!(m.dropped() > 50);
    }
}
