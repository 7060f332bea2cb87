//! Kiosk operation: the settings file, style cycling, and reconnect backoff.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::RunArgs;

/// `--config kiosk.toml`: the live options of the command line, by the same names
/// (snake_case). Anything given on the command line wins over the file. Relative paths
/// are taken from the file's folder, so a unit file can point at it from anywhere.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KioskConfig {
    pub model: Option<PathBuf>,
    pub models: Option<PathBuf>,
    pub output: Option<PathBuf>,
    pub every: Option<u64>,
    pub source: Option<String>,
    pub camera: Option<PathBuf>,
    pub camera_size: Option<String>,
    pub fps: Option<u32>,
    pub infer_size: Option<String>,
    pub fullscreen: Option<bool>,
    pub headless: Option<bool>,
    pub cycle: Option<f64>,
    pub strength: Option<f32>,
    pub preserve_colors: Option<bool>,
    pub border_pad: Option<u32>,
    pub precision: Option<String>,
    pub device: Option<String>,
    pub frames: Option<u64>,
    pub quiet: Option<bool>,
    pub show_fps: Option<bool>,
    pub pattern_time: Option<f64>,
}

impl KioskConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read kiosk config", path.display()))?;
        let mut cfg = Self::parse(&text)
            .with_context(|| format!("{}: invalid kiosk config", path.display()))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        Ok(cfg)
    }

    pub fn parse(text: &str) -> Result<Self> {
        Ok(toml::from_str(text)?)
    }

    fn resolve_paths(&mut self, base: &Path) {
        for p in [
            &mut self.model,
            &mut self.models,
            &mut self.output,
            &mut self.camera,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(s) = &mut self.source {
            if !SOURCE_KEYWORDS.contains(&s.as_str()) && Path::new(s).is_relative() {
                *s = base.join(&*s).to_string_lossy().into_owned();
            }
        }
    }

    /// The run's options: the command line, with the file filling in every option that
    /// was not given there (`explicit` holds the ids of flags given on the command line).
    pub fn apply(&self, cli: &RunArgs, explicit: &HashSet<String>) -> RunArgs {
        let mut a = cli.clone();
        macro_rules! take {
            ($($f:ident),*) => {$(
                if !explicit.contains(stringify!($f)) {
                    if let Some(v) = &self.$f {
                        a.$f = v.clone().into();
                    }
                }
            )*};
        }
        take!(
            model,
            models,
            output,
            source,
            camera,
            infer_size,
            cycle,
            frames,
            pattern_time
        );
        take!(
            every,
            camera_size,
            fps,
            fullscreen,
            headless,
            strength,
            preserve_colors,
            border_pad,
            precision,
            device,
            quiet,
            show_fps
        );
        a
    }
}

/// Keywords `--source` takes besides a path.
pub const SOURCE_KEYWORDS: &[&str] = &["camera", "test-pattern", "demo"];

/// Ids of the run options given on this process's command line (not defaults), read
/// again from the arguments because `RunArgs` alone cannot tell a default from a flag.
pub fn explicit_cli_flags() -> HashSet<String> {
    use clap::parser::ValueSource;
    use clap::CommandFactory;
    match crate::Cli::command().try_get_matches_from(std::env::args_os()) {
        Ok(m) => m
            .ids()
            .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
            .map(|id| id.as_str().to_string())
            .collect(),
        Err(_) => HashSet::new(),
    }
}

/// Delays between reconnect attempts: `initial`, doubling, capped at `max`.
pub struct Backoff {
    initial: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            current: initial,
        }
    }
    pub fn next_delay(&mut self) -> Duration {
        let d = self.current;
        self.current = (self.current * 2).min(self.max);
        d
    }
    pub fn reset(&mut self) {
        self.current = self.initial;
    }
}

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
    fn backoff_doubles_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
        let secs: Vec<f64> = (0..8).map(|_| b.next_delay().as_secs_f64()).collect();
        assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn config_fills_in_what_the_command_line_left_out() {
        let cfg = KioskConfig::parse(
            r#"
            models = "models"
            source = "test-pattern"
            camera_size = "1280x720"
            strength = 0.5
            fullscreen = true
            cycle = 60.0
            show_fps = true
            "#,
        )
        .unwrap();
        let cli = RunArgs {
            strength: 0.8,
            camera_size: "640x480".into(),
            fps: 30,
            ..Default::default()
        };
        let explicit: HashSet<String> = ["strength".to_string()].into();
        let a = cfg.apply(&cli, &explicit);
        assert_eq!(a.strength, 0.8, "the flag wins");
        assert_eq!(a.camera_size, "1280x720", "the file fills a default");
        assert_eq!(a.fps, 30);
        assert!(a.fullscreen && a.show_fps);
        assert_eq!(a.cycle, Some(60.0));
        assert_eq!(a.source.as_deref(), Some("test-pattern"));
        assert_eq!(a.models, Some(PathBuf::from("models")));
    }

    #[test]
    fn config_paths_are_relative_to_the_file_and_typos_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("kiosk.toml");
        std::fs::write(
            &p,
            "models = \"styles\"\nsource = \"photos\"\ncamera = \"/dev/video2\"\n",
        )
        .unwrap();
        let cfg = KioskConfig::load(&p).unwrap();
        assert_eq!(cfg.models, Some(dir.path().join("styles")));
        assert_eq!(
            cfg.source,
            Some(dir.path().join("photos").to_string_lossy().into_owned())
        );
        assert_eq!(cfg.camera, Some(PathBuf::from("/dev/video2")));

        std::fs::write(&p, "strenght = 0.5\n").unwrap();
        let e = format!("{:#}", KioskConfig::load(&p).unwrap_err());
        assert!(e.contains("kiosk.toml") && e.contains("strenght"), "{e}");
        let e = format!(
            "{:#}",
            KioskConfig::load(&dir.path().join("nope.toml")).unwrap_err()
        );
        assert!(e.contains("nope.toml"), "{e}");
    }

    #[test]
    fn the_shipped_example_parses() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/kiosk.toml");
        let cfg = KioskConfig::load(&p).unwrap();
        assert!(cfg.cycle.is_some());
    }

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
