//! The styles in models/ and models/small/: they load, say how they were made, and their
//! f16 path is faithful (PSNR of f16 compute against f32 compute of the same weights >= 40 dB).

use candle_core::Device;
use stylecast::image_io::{load_rgb, psnr};
use stylecast::{ModelFile, Precision, StylizeOptions, Stylizer};
use stylecast_e2e::{repo_root, shared_dir};

fn models_in(dir: &str) -> Vec<std::path::PathBuf> {
    stylecast::model_file::models_in(&repo_root().join(dir)).unwrap()
}

/// Every shipped model: the default-width styles, then the narrow ones for CPU kiosks.
fn shipped() -> Vec<std::path::PathBuf> {
    let mut v = models_in("models");
    v.extend(models_in("models/small"));
    v
}

#[test]
fn small_styles_are_the_narrow_network() {
    let small = models_in("models/small");
    assert!(!small.is_empty(), "models/small ships no style");
    for p in &small {
        let m = ModelFile::load(p, &Device::Cpu).unwrap();
        assert_eq!(
            m.meta.config,
            stylecast::NetConfig::small(),
            "{}: not the small network",
            p.display()
        );
        assert!(std::fs::metadata(p).unwrap().len() < 1_000_000);
    }
}

#[test]
fn at_least_four_styles_with_metadata() {
    assert!(models_in("models").len() >= 4);
    let models = shipped();
    for p in &models {
        let m = ModelFile::load(p, &Device::Cpu).unwrap();
        assert_eq!(
            m.dtype(),
            candle_core::DType::F16,
            "{}: ship f16",
            p.display()
        );
        assert!(!m.meta.style.is_empty());
        let t = m
            .meta
            .training
            .as_ref()
            .unwrap_or_else(|| panic!("{}: no training metadata", p.display()));
        assert!(
            t["steps"].as_u64().unwrap() > 0 && t["loss"]["style_weight"].as_f64().unwrap() > 0.0
        );
        assert!(std::fs::metadata(p).unwrap().len() < 4_000_000);
    }
}

#[test]
fn f16_compute_stays_above_40_db() {
    let photos = ["chicago.jpg", "coffee.jpg"];
    let opts = StylizeOptions {
        max_side: Some(192),
        ..Default::default()
    };
    for p in shipped() {
        let full = Stylizer::load(&p, &Device::Cpu, Precision::F32).unwrap();
        let half = Stylizer::load(&p, &Device::Cpu, Precision::F16).unwrap();
        for ph in photos {
            let img = load_rgb(&shared_dir().join("data/content/test").join(ph)).unwrap();
            let img =
                image::imageops::resize(&img, 192, 128, image::imageops::FilterType::Triangle);
            let a = full.stylize(&img, &opts).unwrap();
            let b = half.stylize(&img, &opts).unwrap();
            let db = psnr(&a, &b);
            assert!(db >= 40.0, "{} on {ph}: f16 PSNR {db:.1} dB", p.display());
            eprintln!(
                "{} on {ph}: f16 vs f32 compute {db:.1} dB",
                p.file_name().unwrap().to_string_lossy()
            );
        }
    }
}
