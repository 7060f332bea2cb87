//! `--vgg hf[:OWNER/NAME]`: VGG-16 weights from the Hugging Face Hub.
//!
//! Downloading needs the `hf-hub` cargo feature (off by default, so the usual build has no
//! network code). The file lands in the Hugging Face cache (`$HF_HOME/hub`, default
//! `~/.cache/huggingface/hub`) and later runs read it from there without the network.

use std::path::{Path, PathBuf};

/// A Hub lookup that failed: the repository and why.
#[derive(Debug, thiserror::Error)]
#[error("VGG-16 weights from the Hugging Face Hub ({repo}): {reason}")]
pub struct HubError {
    pub repo: String,
    pub reason: String,
}

/// torchvision's ImageNet VGG-16 as safetensors, keys `features.N.weight` like ours (528 MB:
/// the classifier comes along; only the ten convolutions are read).
pub const DEFAULT_REPO: &str = "timm/vgg16.tv_in1k";
pub const WEIGHTS_FILE: &str = "model.safetensors";

/// The repository a `--vgg` value names: `hf` gives [`DEFAULT_REPO`], `hf:OWNER/NAME` that
/// repository; anything else is a path (`None`).
pub fn hub_repo(spec: &Path) -> Option<&str> {
    let s = spec.to_str()?;
    if s == "hf" {
        return Some(DEFAULT_REPO);
    }
    s.strip_prefix("hf:")
}

/// The weights file of `repo`, from the cache or downloaded into it.
pub fn fetch(repo: &str) -> Result<PathBuf, HubError> {
    check_repo(repo)?;
    #[cfg(feature = "hf-hub")]
    {
        let builder = hf_hub::api::sync::ApiBuilder::from_env().with_progress(true);
        fetch_with(builder, repo)
    }
    #[cfg(not(feature = "hf-hub"))]
    {
        Err(HubError {
            repo: repo.to_string(),
            reason: format!(
                "this host-train was built without the hf-hub feature: rebuild with \
                 `cargo build --release -p host-train --features hf-hub`, or download \
                 {WEIGHTS_FILE} from https://huggingface.co/{repo} and give --vgg PATH"
            ),
        })
    }
}

/// [`fetch`] through a given client (tests point it at a local cache and a dead endpoint).
#[cfg(feature = "hf-hub")]
pub fn fetch_with(builder: hf_hub::api::sync::ApiBuilder, repo: &str) -> Result<PathBuf, HubError> {
    let hub_err = |reason: String| HubError {
        repo: repo.to_string(),
        reason,
    };
    let api = builder.build().map_err(|e| hub_err(e.to_string()))?;
    api.model(repo.to_string()).get(WEIGHTS_FILE).map_err(|e| {
        hub_err(format!(
            "cannot get {WEIGHTS_FILE}: {e} (offline? download it from \
                 https://huggingface.co/{repo} and give --vgg PATH)"
        ))
    })
}

fn check_repo(repo: &str) -> Result<(), HubError> {
    let ok = repo.split('/').count() == 2 && repo.split('/').all(|p| !p.is_empty());
    if ok {
        Ok(())
    } else {
        Err(HubError {
            repo: repo.to_string(),
            reason: "not a repository name: use --vgg hf or --vgg hf:OWNER/NAME".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_vgg_spec() {
        assert_eq!(hub_repo(Path::new("hf")), Some(DEFAULT_REPO));
        assert_eq!(hub_repo(Path::new("hf:me/vgg")), Some("me/vgg"));
        assert_eq!(hub_repo(Path::new("weights/vgg.safetensors")), None);
        assert_eq!(hub_repo(Path::new("hfx")), None);
    }

    #[test]
    fn refuses_a_bad_repo_name() {
        let e = fetch("vgg").unwrap_err().to_string();
        assert!(e.contains("not a repository name"), "{e}");
        let e = fetch("a/").unwrap_err().to_string();
        assert!(e.contains("not a repository name"), "{e}");
    }

    #[cfg(not(feature = "hf-hub"))]
    #[test]
    fn without_the_feature_says_how_to_get_it() {
        let e = fetch(DEFAULT_REPO).unwrap_err().to_string();
        assert!(e.contains("--features hf-hub"), "{e}");
        assert!(
            e.contains("https://huggingface.co/timm/vgg16.tv_in1k"),
            "{e}"
        );
    }

    #[cfg(feature = "hf-hub")]
    mod hub {
        use super::super::*;
        use hf_hub::api::sync::ApiBuilder;

        /// An endpoint that refuses connections at once: no test touches the network.
        const DEAD: &str = "http://127.0.0.1:9";

        #[test]
        fn finds_the_weights_in_the_cache_without_the_network() {
            let tmp = tempfile::tempdir().unwrap();
            // The cache layout huggingface_hub and hf-hub share.
            let repo_dir = tmp.path().join("models--timm--vgg16.tv_in1k");
            let snap = repo_dir.join("snapshots").join("0123abcd");
            std::fs::create_dir_all(&snap).unwrap();
            std::fs::create_dir_all(repo_dir.join("refs")).unwrap();
            std::fs::write(repo_dir.join("refs").join("main"), "0123abcd").unwrap();
            std::fs::write(snap.join(WEIGHTS_FILE), b"weights").unwrap();

            let builder = ApiBuilder::new()
                .with_cache_dir(tmp.path().to_path_buf())
                .with_endpoint(DEAD.into())
                .with_progress(false);
            let got = fetch_with(builder, DEFAULT_REPO).unwrap();
            assert_eq!(got, snap.join(WEIGHTS_FILE));
        }

        #[test]
        fn offline_and_not_cached_names_the_repo() {
            let tmp = tempfile::tempdir().unwrap();
            let builder = ApiBuilder::new()
                .with_cache_dir(tmp.path().to_path_buf())
                .with_endpoint(DEAD.into())
                .with_retries(0)
                .with_progress(false);
            let e = fetch_with(builder, DEFAULT_REPO).unwrap_err().to_string();
            assert!(e.contains("timm/vgg16.tv_in1k"), "{e}");
            assert!(e.contains("--vgg PATH"), "{e}");
        }
    }
}
