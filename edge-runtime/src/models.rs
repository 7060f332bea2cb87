//! Which model files a run uses: `--model FILE`, `--models DIR`, or the shipped ones.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The models a run asked for, looked up when it starts.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelChoice {
    File(PathBuf),
    /// Every model in the folder (not its subfolders), sorted by name.
    Folder(PathBuf),
    /// ./models, else the checkout's models/.
    Shipped,
}

impl ModelChoice {
    /// `--model` wins over `--models`.
    pub fn new(file: Option<PathBuf>, folder: Option<PathBuf>) -> Self {
        match (file, folder) {
            (Some(f), _) => Self::File(f),
            (None, Some(d)) => Self::Folder(d),
            (None, None) => Self::Shipped,
        }
    }

    /// The folder the models come from, when they come from one (what live mode watches).
    pub fn folder(&self) -> Option<PathBuf> {
        match self {
            Self::File(_) => None,
            Self::Folder(d) => Some(d.clone()),
            Self::Shipped => default_models_dir(),
        }
    }

    /// The model files, at least one.
    pub fn paths(&self) -> Result<Vec<PathBuf>> {
        let dir = match self {
            Self::File(f) => return Ok(vec![f.clone()]),
            Self::Folder(d) => d.clone(),
            Self::Shipped => default_models_dir().context(
                "no model given and no ./models folder with .safetensors files: use --model FILE or --models DIR",
            )?,
        };
        let v = list_models(&dir)?;
        if v.is_empty() {
            return Err(stylecast::Error::NoModels { dir }.into());
        }
        Ok(v)
    }
}

/// Where shipped models live when none is named: ./models, then the checkout's models/.
fn default_models_dir() -> Option<PathBuf> {
    [
        PathBuf::from("models"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"),
    ]
    .into_iter()
    .find(|p| p.is_dir() && !list_models(p).unwrap_or_default().is_empty())
}

/// Model files in a folder (not its subfolders), sorted by name.
fn list_models(dir: &Path) -> Result<Vec<PathBuf>> {
    stylecast::io::model_file::models_in(dir)
        .with_context(|| format!("{}: cannot read models folder", dir.display()))
}
