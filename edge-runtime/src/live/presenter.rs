//! The display end of the pipeline, shared by the window and headless modes: takes the
//! newest stylized frame, composes the picture, writes files, applies the viewer's
//! actions, cycles styles, and keeps the numbers for the overlay, the log and the summary.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::RgbImage;

use super::compose::{Compositor, ViewMode};
use super::cycle::StyleCycler;
use super::library::Library;
use super::morph::{morph_len, Morph};
use super::pipeline::{Shared, Stylized};
use super::record::{save_snapshot, FrameWriter};
use super::watchdog::Notifier;

/// How long the cross-fade of `--cycle` lasts (between styles of different files; styles
/// of one multi-style file morph instead, see `morph`).
const FADE: Duration = Duration::from_millis(800);
/// How often the log line is printed.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// How long a message (new style, strength...) stays on screen.
const TOAST: Duration = Duration::from_secs(2);

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    PrevStyle,
    NextStyle,
    Style(usize),
    Freeze,
    Snapshot,
    CycleView,
    StrengthUp,
    StrengthDown,
    ToggleColors,
    ToggleFps,
    Quit,
}

/// Frames per second over the last couple of seconds, for the overlay.
struct RateMeter {
    times: VecDeque<Instant>,
}

impl RateMeter {
    fn push(&mut self, t: Instant) {
        self.times.push_back(t);
        while self.times.len() > 2 && t.duration_since(self.times[0]) > Duration::from_secs(2) {
            self.times.pop_front();
        }
    }
    fn fps(&self) -> f64 {
        match (self.times.front(), self.times.back()) {
            (Some(a), Some(b)) if self.times.len() > 1 && b > a => {
                (self.times.len() - 1) as f64 / b.duration_since(*a).as_secs_f64()
            }
            _ => 0.0,
        }
    }
}

/// Counter values at the previous log line, for per-interval numbers.
#[derive(Clone, Copy)]
struct LogMark {
    at: Instant,
    shown: u64,
    captured: u64,
    inferred: u64,
    infer_us: u64,
    dropped: u64,
    latency_ms: f64,
}

pub struct PresenterConfig {
    pub style_names: Vec<String>,
    /// The live style set, when it can change while running (a watched models folder).
    pub library: Option<Arc<Library>>,
    pub output: Option<(PathBuf, u64)>,
    pub snapshot_dir: PathBuf,
    pub cycle: Option<f64>,
    pub frames: Option<u64>,
    pub show_fps: bool,
    pub quiet: bool,
}

pub struct Presenter {
    shared: Arc<Shared>,
    style_names: Vec<String>,
    library: Option<Arc<Library>>,
    /// The style set version `style_names` is of.
    styles_version: u64,
    cycle: Option<f64>,
    /// How long a morph between styles of one file takes.
    morph_len: Duration,
    compositor: Compositor,
    writer: Option<FrameWriter>,
    snapshot_dir: PathBuf,
    cycler: Option<StyleCycler>,
    frame_limit: Option<u64>,
    quiet: bool,
    pub view: ViewMode,
    pub show_fps: bool,
    current: Option<Stylized>,
    picture: Option<RgbImage>,
    /// Display aspect ratio of the current picture (the captured frame's).
    aspect: f64,
    started: Instant,
    first_shown: Option<Instant>,
    last_shown: Option<Instant>,
    shown: u64,
    latency_ms_total: f64,
    last_latency_ms: f64,
    /// The stalest frame shown since the last log line.
    interval_max_latency_ms: f64,
    rate: RateMeter,
    mark: LogMark,
    /// The message, when it was given, and whether it names the style (then a morph in
    /// progress shows its blend instead).
    toast: Option<(String, Instant, bool)>,
    /// systemd's READY/WATCHDOG notifications, when started as a notify service.
    notifier: Option<Notifier>,
}

impl Presenter {
    pub fn new(shared: Arc<Shared>, cfg: PresenterConfig) -> anyhow::Result<Self> {
        let writer = match &cfg.output {
            Some((dir, every)) => Some(FrameWriter::new(dir, *every)?),
            None => None,
        };
        let cycler = cfg
            .cycle
            .filter(|_| cfg.style_names.len() > 1)
            .map(StyleCycler::new);
        let now = Instant::now();
        Ok(Self {
            shared,
            style_names: cfg.style_names,
            library: cfg.library,
            styles_version: 0,
            cycle: cfg.cycle,
            morph_len: morph_len(cfg.cycle),
            compositor: Compositor::new(FADE),
            writer,
            snapshot_dir: cfg.snapshot_dir,
            cycler,
            frame_limit: cfg.frames,
            quiet: cfg.quiet,
            view: ViewMode::Stylized,
            show_fps: cfg.show_fps,
            current: None,
            picture: None,
            aspect: 4.0 / 3.0,
            started: now,
            first_shown: None,
            last_shown: None,
            shown: 0,
            latency_ms_total: 0.0,
            last_latency_ms: 0.0,
            interval_max_latency_ms: 0.0,
            rate: RateMeter {
                times: VecDeque::new(),
            },
            mark: LogMark {
                at: now,
                shown: 0,
                captured: 0,
                inferred: 0,
                infer_us: 0,
                dropped: 0,
                latency_ms: 0.0,
            },
            toast: None,
            notifier: Notifier::from_env(),
        })
    }

    /// Tells systemd (when it listens) that the run is ending.
    pub fn notify_stopping(&self) {
        if let Some(n) = &self.notifier {
            n.stopping();
        }
    }

    /// Waits up to `wait` for a new frame and composes it. True when the picture changed
    /// (a new frame, or a step of a cross-fade).
    pub fn poll(&mut self, wait: Duration) -> bool {
        let now = Instant::now();
        self.follow_library();
        self.tick(now);
        if let Some(n) = &mut self.notifier {
            n.tick(&self.shared);
        }
        if let Some(f) = self.shared.stylized.take_timeout(wait) {
            let now = Instant::now();
            self.shown += 1;
            self.first_shown.get_or_insert(now);
            self.last_shown = Some(now);
            self.last_latency_ms = now.duration_since(f.captured).as_secs_f64() * 1e3;
            self.latency_ms_total += self.last_latency_ms;
            self.interval_max_latency_ms = self.interval_max_latency_ms.max(self.last_latency_ms);
            self.rate.push(now);
            let (w, h) = f.source_size;
            self.aspect = w.max(1) as f64 / h.max(1) as f64;
            let pic = self.compositor.compose(&f, self.view, now);
            if let Some(w) = &mut self.writer {
                w.offer(&pic);
            }
            self.picture = Some(pic);
            self.current = Some(f);
            return true;
        }
        if self.compositor.fading() {
            self.recompose();
            return true;
        }
        false
    }

    /// Composes the current frame again (view change, fade step) without counting it.
    fn recompose(&mut self) {
        if let Some(f) = &self.current {
            self.picture = Some(self.compositor.compose(f, self.view, Instant::now()));
        }
    }

    fn tick(&mut self, now: Instant) {
        if self.cycler.as_mut().is_some_and(|c| c.due(now)) {
            let n = self.style_names.len();
            let next = (self.shared.controls().style + 1) % n;
            self.set_style(next, false);
        }
        if now.duration_since(self.mark.at) >= LOG_EVERY {
            if !self.quiet {
                eprintln!("{}", self.log_line(now));
            }
            self.mark = self.mark_now(now);
            self.interval_max_latency_ms = 0.0;
            self.shared.stats.infer_max_us.store(0, Ordering::Relaxed);
        }
    }

    fn mark_now(&self, now: Instant) -> LogMark {
        let s = &self.shared.stats;
        LogMark {
            at: now,
            shown: self.shown,
            captured: s.captured.load(Ordering::Relaxed),
            inferred: s.inferred.load(Ordering::Relaxed),
            infer_us: s.infer_us.load(Ordering::Relaxed),
            dropped: self.shared.dropped(),
            latency_ms: self.latency_ms_total,
        }
    }

    /// The 10-second log line: numbers over the interval since the previous one.
    fn log_line(&self, now: Instant) -> String {
        let (a, b) = (self.mark, self.mark_now(now));
        let secs = now.duration_since(a.at).as_secs_f64().max(1e-9);
        let frames = b.shown - a.shown;
        let inferred = b.inferred - a.inferred;
        let infer_ms = if inferred > 0 {
            (b.infer_us - a.infer_us) as f64 / inferred as f64 / 1e3
        } else {
            0.0
        };
        let latency = if frames > 0 {
            (b.latency_ms - a.latency_ms) / frames as f64
        } else {
            0.0
        };
        format!(
            "live: {:.1} fps, source {:.1} fps, inference {:.0} ms (max {:.0}), latency {:.0} ms (max {:.0}), dropped {} (total {}), style {}",
            frames as f64 / secs,
            (b.captured - a.captured) as f64 / secs,
            infer_ms,
            self.shared.stats.infer_max_us.load(Ordering::Relaxed) as f64 / 1e3,
            latency,
            self.interval_max_latency_ms,
            b.dropped - a.dropped,
            b.dropped,
            self.style_label()
        )
    }

    /// The final line (the benchmark script reads it). fps is the steady rate between the
    /// first and last frame shown, so model loading and the first frame's latency are out.
    pub fn summary(&self) -> String {
        let s = &self.shared.stats;
        let inferred = s.inferred.load(Ordering::Relaxed);
        let infer_ms = if inferred > 0 {
            s.infer_us.load(Ordering::Relaxed) as f64 / inferred as f64 / 1e3
        } else {
            0.0
        };
        let fps = match (self.first_shown, self.last_shown) {
            (Some(a), Some(b)) if self.shown > 1 && b > a => {
                (self.shown - 1) as f64 / b.duration_since(a).as_secs_f64()
            }
            _ => 0.0,
        };
        let latency = if self.shown > 0 {
            self.latency_ms_total / self.shown as f64
        } else {
            0.0
        };
        let errors = s.errors.load(Ordering::Relaxed);
        let skipped = s.skipped.load(Ordering::Relaxed);
        format!(
            "summary: frames {}, seconds {:.2}, fps {:.2}, mean inference {:.1} ms, mean latency {:.1} ms, dropped {}{}{}",
            self.shown,
            self.started.elapsed().as_secs_f64(),
            fps,
            infer_ms,
            latency,
            self.shared.dropped(),
            if errors > 0 { format!(", inference errors {errors}") } else { String::new() },
            if skipped > 0 { format!(", skipped {skipped} bad camera frames") } else { String::new() }
        )
    }

    pub fn done(&self) -> bool {
        self.shared.stopping() || self.frame_limit.is_some_and(|n| self.shown >= n)
    }

    pub fn picture(&self) -> Option<&RgbImage> {
        self.picture.as_ref()
    }

    pub fn aspect(&self) -> f64 {
        self.aspect
    }

    /// Takes up a reloaded style set: the names, the current style kept by name where it
    /// is still there, and style cycling once there is more than one.
    fn follow_library(&mut self) {
        let Some(set) = self.library.as_ref().map(|l| l.current()) else {
            return;
        };
        if set.version == self.styles_version {
            return;
        }
        let cur = self.shared.controls().style;
        let name = self.style_names.get(cur).cloned();
        let keep = name
            .and_then(|n| set.names.iter().position(|m| *m == n))
            .unwrap_or(cur.min(set.names.len().saturating_sub(1)));
        self.style_names = set.names.clone();
        self.styles_version = set.version;
        self.shared.update_controls(|c| {
            c.style = keep;
            c.morph = None;
        });
        if self.style_names.len() < 2 {
            self.cycler = None;
        } else if self.cycler.is_none() {
            self.cycler = self.cycle.map(StyleCycler::new);
        }
        self.say(format!("styles reloaded: {}", self.style_names.len()));
    }

    /// The style's name, or during a morph the blend painted now (`a:0.40,b:0.60`).
    fn style_label(&self) -> String {
        let c = self.shared.controls();
        let i = c.style;
        let name = self
            .style_names
            .get(i)
            .cloned()
            .unwrap_or_else(|| "?".into());
        let blend = c.morph.as_ref().and_then(|m| {
            let mix = m.mix_at(Instant::now())?;
            let set = self.library.as_ref()?.current();
            let e = set.styles.get(i).filter(|_| set.version == m.set_version)?;
            Some(mix.label(e.stylizer.style_names()))
        });
        format!(
            "{} ({}/{})",
            blend.unwrap_or(name),
            i + 1,
            self.style_names.len()
        )
    }

    /// The morph a switch from the current style to `to` makes: Some when both are styles
    /// of one multi-style file, starting from what is painted now (a style, or the blend
    /// of an unfinished morph).
    fn morph_to(&self, to: usize, now: Instant) -> Option<Morph> {
        let set = self.library.as_ref()?.current();
        if set.version != self.styles_version {
            return None;
        }
        let c = self.shared.controls();
        let (a, b) = (set.styles.get(c.style)?, set.styles.get(to)?);
        if c.style == to || !a.same_file(b) {
            return None;
        }
        let from = c
            .morph
            .as_ref()
            .filter(|m| m.set_version == set.version)
            .and_then(|m| m.mix_at(now))
            .unwrap_or_else(|| a.stylizer.style_mix().clone());
        Some(Morph {
            from,
            to: b.stylizer.style_mix().clone(),
            start: now,
            len: self.morph_len,
            set_version: set.version,
        })
    }

    /// Switches to style `i`: a morph within one multi-style file, else a cycle's
    /// cross-fade (a manual switch cuts).
    fn set_style(&mut self, i: usize, manual: bool) {
        if i >= self.style_names.len() {
            return;
        }
        let now = Instant::now();
        let morph = self.morph_to(i, now);
        if morph.is_none() && !manual {
            self.compositor.fade_to(i);
        }
        self.shared.update_controls(|c| {
            c.style = i;
            c.morph = morph;
        });
        if manual {
            if let Some(c) = &mut self.cycler {
                c.restart(now);
            }
        }
        self.toast = Some((self.style_label(), now, true));
    }

    fn say(&mut self, text: String) {
        self.toast = Some((text, Instant::now(), false));
    }

    /// Applies a key's action; false when it asks to quit.
    pub fn apply(&mut self, action: Action) -> bool {
        let n = self.style_names.len();
        let cur = self.shared.controls();
        match action {
            Action::Quit => return false,
            Action::NextStyle => self.set_style((cur.style + 1) % n, true),
            Action::PrevStyle => self.set_style((cur.style + n - 1) % n, true),
            Action::Style(i) => self.set_style(i, true),
            Action::Freeze => {
                self.shared.update_controls(|c| c.frozen = !c.frozen);
                self.say(if cur.frozen {
                    "live".into()
                } else {
                    "frozen".into()
                });
            }
            Action::StrengthUp | Action::StrengthDown => {
                let step = if action == Action::StrengthUp {
                    0.1
                } else {
                    -0.1
                };
                // Round to tenths so repeated steps land on 0 and 1 exactly.
                let s = ((cur.strength + step) * 10.0).round().clamp(0.0, 10.0) / 10.0;
                self.shared.update_controls(|c| c.strength = s);
                self.say(format!("strength {s:.1}"));
            }
            Action::ToggleColors => {
                self.shared
                    .update_controls(|c| c.preserve_colors = !c.preserve_colors);
                self.say(if cur.preserve_colors {
                    "style colours".into()
                } else {
                    "photo colours kept".into()
                });
            }
            Action::CycleView => {
                self.view = self.view.next();
                self.recompose();
                self.say(format!("view: {}", self.view.label()));
            }
            Action::ToggleFps => self.show_fps = !self.show_fps,
            Action::Snapshot => match &self.picture {
                Some(p) => match save_snapshot(&self.snapshot_dir, p) {
                    Ok(path) => {
                        eprintln!("snapshot saved: {}", path.display());
                        self.say(format!(
                            "saved {}",
                            path.file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default()
                        ));
                    }
                    Err(e) => {
                        eprintln!("warning: {e:#}");
                        self.say("snapshot failed (see log)".into());
                    }
                },
                None => self.say("nothing to save yet".into()),
            },
        }
        true
    }

    /// Overlay text: the numbers (when on) and a FROZEN marker.
    pub fn overlay_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let c = self.shared.controls();
        if self.show_fps {
            lines.push(format!(
                "{:.1} fps  latency {:.0} ms",
                self.rate.fps(),
                self.last_latency_ms
            ));
            lines.push(format!("{}  {}", self.style_label(), self.view.label()));
            lines.push(format!(
                "strength {:.1}{}  dropped {}",
                c.strength,
                if c.preserve_colors {
                    "  colours kept"
                } else {
                    ""
                },
                self.shared.dropped()
            ));
        }
        if c.frozen {
            lines.push("FROZEN".into());
        }
        lines
    }

    /// The current message, while it lasts; a style's name follows a morph's blend.
    pub fn toast(&self) -> Option<String> {
        let (text, _, style) = self
            .toast
            .as_ref()
            .filter(|(_, t, _)| t.elapsed() < TOAST)?;
        Some(if *style {
            self.style_label()
        } else {
            text.clone()
        })
    }

    /// Whether the overlay changes over time without new frames (toasts expiring).
    pub fn overlay_deadline(&self) -> Option<Instant> {
        self.toast
            .as_ref()
            .map(|(_, t, _)| *t + TOAST)
            .filter(|d| *d > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::pipeline::Controls;

    fn presenter(n: usize, dir: &std::path::Path) -> (Arc<Shared>, Presenter) {
        let shared = Shared::new(Controls {
            style: 0,
            strength: 1.0,
            preserve_colors: false,
            frozen: false,
            morph: None,
            version: 0,
        });
        let p = Presenter::new(
            shared.clone(),
            PresenterConfig {
                style_names: (0..n).map(|i| format!("s{i}")).collect(),
                library: None,
                output: None,
                snapshot_dir: dir.to_path_buf(),
                cycle: None,
                frames: Some(2),
                show_fps: false,
                quiet: true,
            },
        )
        .unwrap();
        (shared, p)
    }

    #[test]
    fn keys_change_the_controls() {
        let dir = tempfile::tempdir().unwrap();
        let (shared, mut p) = presenter(3, dir.path());
        p.apply(Action::PrevStyle);
        assert_eq!(shared.controls().style, 2);
        p.apply(Action::NextStyle);
        assert_eq!(shared.controls().style, 0);
        p.apply(Action::Style(1));
        assert_eq!(shared.controls().style, 1);
        p.apply(Action::Style(7));
        assert_eq!(shared.controls().style, 1, "no such style: ignored");
        for _ in 0..3 {
            p.apply(Action::StrengthDown);
        }
        assert!((shared.controls().strength - 0.7).abs() < 1e-6);
        for _ in 0..5 {
            p.apply(Action::StrengthUp);
        }
        assert_eq!(shared.controls().strength, 1.0);
        p.apply(Action::ToggleColors);
        p.apply(Action::Freeze);
        let c = shared.controls();
        assert!(c.preserve_colors && c.frozen);
        assert!(p.overlay_lines().contains(&"FROZEN".to_string()));
        p.apply(Action::CycleView);
        assert_eq!(p.view, ViewMode::Original);
        assert!(!p.apply(Action::Quit));
    }

    #[test]
    fn frames_are_counted_and_snapshots_saved() {
        let dir = tempfile::tempdir().unwrap();
        let (shared, mut p) = presenter(1, dir.path());
        p.apply(Action::Snapshot);
        assert_eq!(p.toast().as_deref(), Some("nothing to save yet"));
        let img = RgbImage::from_pixel(4, 3, image::Rgb([9, 9, 9]));
        for _ in 0..2 {
            assert!(!p.done());
            shared.stylized.post(Stylized {
                input: img.clone(),
                output: img.clone(),
                source_size: (8, 3),
                captured: Instant::now(),
                style: 0,
                card: false,
            });
            assert!(p.poll(Duration::from_millis(100)));
        }
        assert!(p.done());
        assert!((p.aspect() - 8.0 / 3.0).abs() < 1e-9);
        p.apply(Action::Snapshot);
        let pngs = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(pngs, 1);
        assert!(
            p.summary().starts_with("summary: frames 2,"),
            "{}",
            p.summary()
        );
    }

    #[test]
    fn switching_within_a_multi_style_file_morphs_and_between_files_does_not() {
        use crate::models::{styles_of, tests::random_multi};
        let st = |m: &stylecast::ModelFile| {
            stylecast::Stylizer::from_model(m, &candle_core::Device::Cpu, stylecast::Precision::F32)
                .unwrap()
        };
        let m = random_multi(&["a", "b"]);
        let mut entries = styles_of(std::path::Path::new("duo.safetensors"), st(&m), None).unwrap();
        let other = random_multi(&["x", "y"]);
        entries.extend(
            styles_of(
                std::path::Path::new("other.safetensors"),
                st(&other),
                Some("x"),
            )
            .unwrap(),
        );
        let library = Library::new(entries);
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared::new(Controls {
            style: 0,
            strength: 1.0,
            preserve_colors: false,
            frozen: false,
            morph: None,
            version: 0,
        });
        let mut p = Presenter::new(
            shared.clone(),
            PresenterConfig {
                style_names: library.current().names.clone(),
                library: Some(library),
                output: None,
                snapshot_dir: dir.path().to_path_buf(),
                cycle: None,
                frames: None,
                show_fps: true,
                quiet: true,
            },
        )
        .unwrap();
        p.apply(Action::NextStyle);
        let c = shared.controls();
        let m = c.morph.clone().expect("a -> b of one file morphs");
        assert_eq!(
            (c.style, m.from.weights(), m.to.weights()),
            (1, &[1.0, 0.0][..], &[0.0, 1.0][..])
        );
        // The overlay and the toast show the blend painted now: all a at first, then
        // halfway (the morph moved back by half its length).
        let toast = p.toast().unwrap();
        assert!(
            toast.starts_with('a') && toast.ends_with("(2/3)"),
            "{toast}"
        );
        shared.update_controls(|c| {
            if let Some(m) = &mut c.morph {
                m.start -= m.len / 2;
            }
        });
        assert!(
            p.toast().unwrap().starts_with("a:0.50,b:0.50 (2/3)"),
            "{:?}",
            p.toast()
        );
        assert!(
            p.overlay_lines()[1].starts_with("a:0.50,b:0.50"),
            "{:?}",
            p.overlay_lines()
        );
        // A switch back starts from the blend painted then.
        p.apply(Action::PrevStyle);
        let back = shared.controls().morph.unwrap();
        assert!((back.from.weights()[1] - 0.5).abs() < 0.05, "{back:?}");
        assert_eq!(back.to.weights(), &[1.0, 0.0]);
        // To another file's style: no morph.
        p.apply(Action::Style(2));
        assert_eq!(shared.controls().morph, None);
        assert!(
            p.overlay_lines()[1].starts_with("x (3/3)"),
            "{:?}",
            p.overlay_lines()
        );
    }
}
