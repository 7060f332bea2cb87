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

/// Whether `spec` names a style (by name or index) that the model lacks: in a run of
/// several files, `--style the_scream` picks the files that have it and passes over the
/// others (see [`expand_run`]). Weights are not looked at here; `styles_of` judges them.
pub fn lacks_style(stylizer: &Stylizer, spec: &str) -> bool {
    let names = stylizer.style_names();
    spec.split(',').any(|part| {
        let key = part.rsplit_once(':').map_or(part, |(k, _)| k).trim();
        StyleMix::index_of(key, names).is_err()
    })
}

/// Expands the loaded models of a run into their entries (see [`styles_of`]). With a
/// `--style` and several files, a file that lacks the named style is passed over (it
/// keeps an empty list, so a watcher knows it); only when no file has it is that an
/// error, which lists every style on offer.
pub fn expand_run(
    loaded: Vec<(PathBuf, Stylizer)>,
    spec: Option<&str>,
) -> Result<Vec<(PathBuf, Vec<StyleEntry>)>> {
    let lenient = loaded.len() > 1;
    let mut on_offer = Vec::new();
    let mut out = Vec::with_capacity(loaded.len());
    for (p, st) in loaded {
        if spec.is_some_and(|s| lenient && lacks_style(&st, s)) {
            on_offer.extend(st.style_names().iter().cloned());
            out.push((p, Vec::new()));
            continue;
        }
        let entries = styles_of(&p, st, spec)?;
        out.push((p, entries));
    }
    if let Some(spec) = spec {
        if out.iter().all(|(_, e)| e.is_empty()) {
            on_offer.sort();
            on_offer.dedup();
            anyhow::bail!(
                "--style {spec:?}: none of the {} model files has that style (their styles: {}); \
                 a blend must name styles of one multi-style file",
                out.len(),
                on_offer.join(", ")
            );
        }
    }
    Ok(out)
}

/// Loads every model and expands it into its entries (see [`expand_run`]).
pub fn load_entries(
    paths: &[PathBuf],
    device: &candle_core::Device,
    precision: stylecast::Precision,
    spec: Option<&str>,
) -> Result<Vec<StyleEntry>> {
    let loaded = paths
        .iter()
        .map(|p| Ok((p.clone(), Stylizer::load(p, device, precision)?)))
        .collect::<Result<Vec<_>>>()?;
    Ok(expand_run(loaded, spec)?
        .into_iter()
        .flat_map(|(_, e)| e)
        .collect())
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
    fn of_several_files_style_picks_those_that_have_it_and_fails_only_when_none_do() {
        let m = random_multi(&["a", "b", "c"]);
        let single = ModelFile::resolve_style(&m, &StyleMix::single(1, 3).unwrap()).unwrap();
        let run = || {
            vec![
                (PathBuf::from("trio.safetensors"), stylizer(&m)),
                (PathBuf::from("b.safetensors"), stylizer(&single)),
            ]
        };
        let names = |spec| -> Vec<(String, String)> {
            expand_run(run(), Some(spec))
                .unwrap()
                .into_iter()
                .flat_map(|(p, e)| {
                    e.into_iter()
                        .map(move |e| (p.display().to_string(), e.name))
                })
                .collect()
        };
        assert_eq!(
            names("b"),
            [
                ("trio.safetensors".into(), "b".into()),
                ("b.safetensors".into(), "b".into())
            ]
        );
        assert_eq!(names("c"), [("trio.safetensors".into(), "c".into())]);
        assert_eq!(
            names("a:1,c:1"),
            [("trio.safetensors".into(), "a:0.50,c:0.50".into())]
        );
        let e = format!("{:#}", expand_run(run(), Some("zz")).err().unwrap());
        assert!(
            e.contains("none of the 2 model files") && e.contains("a, b, c"),
            "{e}"
        );
        // Bad weights stay an error where the names fit.
        let e = format!("{:#}", expand_run(run(), Some("a:-1,b:1")).err().unwrap());
        assert!(e.contains("trio.safetensors") && e.contains("-1"), "{e}");
        // One file: strict, as before.
        let e = format!(
            "{:#}",
            expand_run(run().split_off(1), Some("c")).err().unwrap()
        );
        assert!(
            e.contains("b.safetensors") && e.contains("unknown style \"c\""),
            "{e}"
        );
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
