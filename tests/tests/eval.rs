//! `host-train eval`: the scores tell a trained style from an untrained network and a
//! model's own painting from another one; bad input is named.

use std::path::{Path, PathBuf};

use candle_core::Device;
use host_train::eval::{evaluate, EvalOptions};
use host_train::model::Trainable;
use stylecast::{ModelFile, ModelMeta, NetConfig};
use stylecast_e2e::{repo_root, shared_dir};

/// Two demo photos (symlinked), for speed.
fn photos(dir: &Path) -> PathBuf {
    let src = shared_dir().join("data/content/test");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let out = dir.join("photos");
    std::fs::create_dir_all(&out).unwrap();
    for f in files.iter().take(2) {
        std::os::unix::fs::symlink(f, out.join(f.file_name().unwrap())).unwrap();
    }
    out
}

fn options(models: Vec<PathBuf>, photos: PathBuf, styles: PathBuf) -> EvalOptions {
    EvalOptions {
        models,
        photos,
        styles,
        size: 128,
        style_size: Some(256),
        vgg: Some(shared_dir().join("weights/vgg16-features.safetensors")),
        device: "cpu".into(),
        json: None,
    }
}

#[test]
fn eval_scores_a_trained_style_against_its_painting() {
    let dir = tempfile::tempdir().unwrap();
    let photos = photos(dir.path());
    let trained = repo_root().join("models/starry_night.safetensors");
    // An untrained network of the same shape, calling itself starry_night.
    let fresh = dir.path().join("fresh.safetensors");
    let t = Trainable::new(&NetConfig::default(), &Device::Cpu, 7).unwrap();
    ModelFile {
        meta: ModelMeta::new("starry_night", NetConfig::default()),
        tensors: t.weights(),
    }
    .save(&fresh)
    .unwrap();

    let styles = shared_dir().join("data/styles");
    let s = evaluate(&options(
        vec![trained.clone(), fresh],
        photos.clone(),
        styles,
    ))
    .unwrap();
    assert_eq!(s.len(), 2);
    let (own, untrained) = (&s[0], &s[1]);
    assert_eq!(own.photos, 2);
    assert_eq!(own.style, "starry_night");
    assert_eq!(own.painting_matches, Some(true), "the shipped model's hash");
    assert_eq!(own.loss.style_weight, 1e10, "weights from its metadata");
    assert!(own.steps.is_some_and(|n| n > 1000));
    assert_eq!(untrained.painting_matches, None);
    assert_eq!(untrained.steps, None);
    assert!(
        own.style_loss < 0.5 * untrained.style_loss,
        "the trained style should be far closer to the painting: {} vs {}",
        own.style_loss,
        untrained.style_loss
    );
    assert!(own.content > 0.0 && own.content.is_finite());

    // The same model judged against another painting (under its name) scores worse
    // style, and the hash says the file is not the one it trained on.
    let wrong = dir.path().join("wrong");
    std::fs::create_dir_all(&wrong).unwrap();
    std::os::unix::fs::symlink(
        shared_dir().join("data/styles/the_scream.jpg"),
        wrong.join("starry_night.jpg"),
    )
    .unwrap();
    let mut o = options(vec![trained], photos, wrong);
    o.json = Some(dir.path().join("scores.json"));
    host_train::eval::run(&o).unwrap();
    let j: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("scores.json")).unwrap()).unwrap();
    assert_eq!(j[0]["style"], "starry_night");
    // The same photos give the same content loss whatever the painting. (Within 1e-12:
    // serde_json's default float parsing may land one ulp off the printed value.)
    let content = j[0]["content"].as_f64().expect("content in the JSON");
    assert!(
        (content - own.content).abs() <= 1e-12 * own.content.abs(),
        "content {content} vs {}",
        own.content
    );
    assert_eq!(j[0]["loss"]["style_weight"], 1e10);
    let w = evaluate(&o).unwrap();
    assert_eq!(w[0].painting_matches, Some(false));
    assert!(
        w[0].style_loss > 2.0 * own.style_loss,
        "{} vs {}",
        w[0].style_loss,
        own.style_loss
    );
    assert_eq!(
        w[0].content, own.content,
        "content does not depend on the painting"
    );
    let table = host_train::eval::table(&w);
    assert!(
        table.contains("starry_night.safetensors") && table.contains("differs"),
        "{table}"
    );
}

#[test]
fn eval_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let photos = photos(dir.path());
    let model = repo_root().join("models/the_scream.safetensors");
    let empty = dir.path().join("no-paintings");
    std::fs::create_dir_all(&empty).unwrap();
    let e = format!(
        "{:#}",
        evaluate(&options(vec![model.clone()], photos.clone(), empty.clone())).unwrap_err()
    );
    assert!(
        e.contains("the_scream.safetensors")
            && e.contains("no-paintings")
            && e.contains("the_scream.jpg"),
        "{e}"
    );

    let styles = shared_dir().join("data/styles");
    let e = format!(
        "{:#}",
        evaluate(&options(vec![model.clone()], empty.clone(), styles.clone())).unwrap_err()
    );
    assert!(e.contains("no-paintings") && e.contains("no images"), "{e}");

    let mut o = options(vec![model], photos, styles);
    o.size = 130;
    let e = format!("{:#}", evaluate(&o).unwrap_err());
    assert!(
        e.contains("--size 130") && e.contains("multiple of 4"),
        "{e}"
    );

    let bad = dir.path().join("broken.safetensors");
    std::fs::write(&bad, b"not a model").unwrap();
    let o = options(
        vec![bad],
        dir.path().join("photos"),
        shared_dir().join("data/styles"),
    );
    let e = format!("{:#}", evaluate(&o).unwrap_err());
    assert!(e.contains("broken.safetensors"), "{e}");
}
