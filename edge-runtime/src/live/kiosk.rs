//! The kiosk settings file (`--config kiosk.toml`, example in docs/kiosk.toml): the live
//! options of the command line as TOML keys. Only the format and its loading live here;
//! `cli.rs` lays the command line over it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use super::settings::SourceChoice;

/// The file's keys: the live options of the command line, by the same names (snake_case).
/// Relative paths are taken from the file's folder, so a unit file can point at it from
/// anywhere.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KioskConfig {
    pub model: Option<PathBuf>,
    pub models: Option<PathBuf>,
    pub style: Option<String>,
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
    pub smooth: Option<f32>,
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
            if let SourceChoice::Images(p) = SourceChoice::parse(s) {
                if p.is_relative() {
                    *s = base.join(p).to_string_lossy().into_owned();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
