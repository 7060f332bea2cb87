//! Which model files a run uses (`--model FILE`, `--models DIR`, or the shipped ones), and
//! the styles it paints with them: every style of a multi-style file, or the one `--style`
//! names.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use stylecast::{StyleMix, Stylizer};

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

/// One style a run paints: the only style of a model file, one style of a multi-style
/// file, or a blend of its styles (`--style`).
#[derive(Clone)]
pub struct StyleEntry {
    pub path: PathBuf,
    /// What users see: the style's name, or the blend's label (`a:0.60,b:0.40`).
    pub name: String,
    /// Painting this entry's style (for a multi-style file, its own copy with the mix set;
    /// the weights are shared with the file's other entries).
    pub stylizer: Stylizer,
    /// From a file holding several styles: entries of one such file can morph into each
    /// other (only the instance norms' scales and shifts change).
    pub multi: bool,
}

impl StyleEntry {
    /// Where names collide (two files of one style, one style in two multi files): the
    /// file's name, with the style's after it for a multi-style file.
    pub fn fallback_name(&self) -> String {
        let stem = self
            .path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.name.clone());
        if self.multi {
            format!("{stem}_{}", self.name)
        } else {
            stem
        }
    }

    /// Whether `other` comes from the same loaded multi-style file (so a morph between
    /// them is a mix of their scales and shifts).
    pub fn same_file(&self, other: &StyleEntry) -> bool {
        self.multi && other.multi && self.path == other.path
    }
}

/// The entries of one loaded model: with `spec` (`--style NAME|INDEX|BLEND`) the one style
/// or blend it names; without, every style the file holds. A single-style file accepts a
/// spec only when it names its own style. Errors name the file and list its styles.
pub fn styles_of(path: &Path, stylizer: Stylizer, spec: Option<&str>) -> Result<Vec<StyleEntry>> {
    let names = stylizer.style_names().to_vec();
    let multi = names.len() > 1;
    let entry = |stylizer: Stylizer| StyleEntry {
        path: path.to_path_buf(),
        name: stylizer.style_label(),
        stylizer,
        multi,
    };
    let Some(spec) = spec else {
        if !multi {
            return Ok(vec![entry(stylizer)]);
        }
        return (0..names.len())
            .map(|i| {
                Ok(entry(
                    stylizer.with_style(StyleMix::single(i, names.len())?)?,
                ))
            })
            .collect();
    };
    let mix = StyleMix::parse(spec, &names).map_err(|e| {
        let e = e.to_string();
        let e = e.strip_prefix("invalid argument: ").unwrap_or(&e);
        let list = if e.contains("unknown style") {
            String::new()
        } else {
            format!(" (its styles: {})", names.join(", "))
        };
        anyhow::anyhow!("{}: --style {spec:?}: {e}{list}", path.display())
    })?;
    let stylizer = stylizer
        .with_style(mix)
        .with_context(|| format!("{}: --style {spec:?}", path.display()))?;
    Ok(vec![entry(stylizer)])
}

/// Loads every model and expands it into its entries (see [`styles_of`]).
pub fn load_entries(
    paths: &[PathBuf],
    device: &candle_core::Device,
    precision: stylecast::Precision,
    spec: Option<&str>,
) -> Result<Vec<StyleEntry>> {
    let mut entries = Vec::new();
    for p in paths {
        let st = Stylizer::load(p, device, precision)?;
        entries.extend(styles_of(p, st, spec)?);
    }
    Ok(entries)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::{Device, Tensor};
    use stylecast::{ModelFile, ModelMeta, NetConfig, Precision};

    /// A tiny network of `names.len()` styles with random weights, each style its own
    /// norm scales and shifts.
    pub(crate) fn random_multi(names: &[&str]) -> ModelFile {
        let config = NetConfig {
            channels: [4, 6, 8],
            residual_blocks: 1,
            styles: names.len(),
        };
        let tensors = config
            .param_shapes()
            .into_iter()
            .map(|(n, s)| {
                let t = Tensor::randn(0f32, 0.5, s, &Device::Cpu).unwrap();
                (n, t)
            })
            .collect();
        let names = names.iter().map(|s| s.to_string()).collect();
        ModelFile {
            meta: ModelMeta::with_styles("collection", config, names),
            tensors,
        }
    }

    fn stylizer(m: &ModelFile) -> Stylizer {
        Stylizer::from_model(m, &Device::Cpu, Precision::F32).unwrap()
    }

    #[test]
    fn a_multi_style_file_is_an_entry_per_style_or_the_one_style_asks_for() {
        let m = random_multi(&["a", "b", "c"]);
        let p = Path::new("m/trio.safetensors");
        let all = styles_of(p, stylizer(&m), None).unwrap();
        let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert!(all[0].same_file(&all[2]) && all[1].multi);
        assert_eq!(all[1].stylizer.style_mix().weights(), &[0.0, 1.0, 0.0]);
        assert_eq!(all[2].fallback_name(), "trio_c");
        let one = styles_of(p, stylizer(&m), Some("c:3,0:1")).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].name, "a:0.25,c:0.75");
        let err = |spec: &str| {
            format!(
                "{:#}",
                styles_of(p, stylizer(&m), Some(spec)).err().unwrap()
            )
        };
        let e = err("zz");
        assert!(
            e.starts_with("m/trio.safetensors: --style \"zz\": unknown style \"zz\""),
            "{e}"
        );
        assert!(e.contains("a, b, c"), "{e}");
        let e = err("a:0");
        assert!(
            e.contains("all zero") && e.contains("(its styles: a, b, c)"),
            "{e}"
        );
        // A single-style file: its own name only.
        let single = ModelFile::resolve_style(&m, &StyleMix::single(1, 3).unwrap()).unwrap();
        let q = Path::new("b.safetensors");
        let e = styles_of(q, stylizer(&single), Some("b")).unwrap();
        assert_eq!((e.len(), e[0].name.as_str(), e[0].multi), (1, "b", false));
        assert!(!e[0].same_file(&e[0]), "a single style does not morph");
        let e = format!(
            "{:#}",
            styles_of(q, stylizer(&single), Some("a")).err().unwrap()
        );
        assert!(
            e.contains("b.safetensors") && e.contains("unknown style \"a\""),
            "{e}"
        );
    }
}
