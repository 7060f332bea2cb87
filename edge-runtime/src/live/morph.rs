//! A switch between two styles of one multi-style file: instead of cross-fading pixels
//! (what a switch between different files does, see `compose`), the inference thread
//! paints a blend of the two whose weights move from one style to the other over about a
//! second. Each step only mixes the instance norms' scales and shifts
//! (`Stylizer::set_style`); the network is never reloaded or rebuilt.

use std::time::{Duration, Instant};

use stylecast::StyleMix;

/// How long a morph takes (shorter when `--cycle` switches faster, see [`morph_len`]).
pub const MORPH: Duration = Duration::from_millis(1000);

/// A morph in progress, as the presenter started it; the inference thread reads it from
/// the controls every frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Morph {
    /// What was painted when the switch came: a style, or the blend of an unfinished morph.
    pub from: StyleMix,
    pub to: StyleMix,
    pub start: Instant,
    pub len: Duration,
    /// The style set the mixes belong to: a reloaded set ends the morph.
    pub set_version: u64,
}

impl Morph {
    /// Progress at `now`, eased (slow at both ends, as a cross-fade feels), within 0..=1.
    pub fn progress(&self, now: Instant) -> f32 {
        let t = now.saturating_duration_since(self.start).as_secs_f32()
            / self.len.as_secs_f32().max(1e-3);
        let t = t.clamp(0.0, 1.0);
        t * t * (3.0 - 2.0 * t)
    }

    /// The blend to paint at `now`, or None once the morph has arrived (then the target
    /// style itself is painted).
    pub fn mix_at(&self, now: Instant) -> Option<StyleMix> {
        let t = self.progress(now);
        if t >= 1.0 {
            return None;
        }
        self.from.lerp(&self.to, t).ok()
    }
}

/// The morph's length for a run that cycles every `cycle` seconds: at most half a period,
/// so every style is seen whole before the next switch.
pub fn morph_len(cycle: Option<f64>) -> Duration {
    match cycle {
        Some(c) => MORPH.min(Duration::from_secs_f64(c / 2.0)),
        None => MORPH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_morph_eases_from_one_style_to_the_other_and_ends() {
        let t0 = Instant::now();
        let m = Morph {
            from: StyleMix::single(0, 2).unwrap(),
            to: StyleMix::single(1, 2).unwrap(),
            start: t0,
            len: Duration::from_millis(1000),
            set_version: 0,
        };
        assert_eq!(m.mix_at(t0).unwrap().weights(), &[1.0, 0.0]);
        let mid = m.mix_at(t0 + Duration::from_millis(500)).unwrap();
        assert!((mid.weights()[1] - 0.5).abs() < 1e-6, "{mid:?}");
        // Eased: a quarter of the time is less than a quarter of the way.
        let q = m.mix_at(t0 + Duration::from_millis(250)).unwrap();
        assert!(q.weights()[1] > 0.0 && q.weights()[1] < 0.25, "{q:?}");
        assert_eq!(m.mix_at(t0 + Duration::from_millis(1000)), None);
        assert_eq!(morph_len(Some(0.5)), Duration::from_millis(250));
        assert_eq!(morph_len(Some(60.0)), MORPH);
    }
}
