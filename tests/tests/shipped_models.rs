//! The styles in models/ and models/small/: they load, say how they were made, and their
//! f16 path is faithful (PSNR of f16 compute against f32 compute of the same weights >= 40 dB).

use candle_core::Device;
use stylecast::io::image::{load_rgb, psnr};
use stylecast::{ModelFile, Precision, StylizeOptions, Stylizer};
use stylecast_e2e::{repo_root, shared_dir};

fn models_in(dir: &str) -> Vec<std::path::PathBuf> {
    stylecast::io::model_file::models_in(&repo_root().join(dir)).unwrap()
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

/// Mean of one colour channel over columns `cols` of `img`.
fn column_mean(img: &image::RgbImage, cols: std::ops::Range<u32>, c: usize) -> f64 {
    let n = (cols.len() as u32 * img.height()) as f64;
    cols.flat_map(|x| (0..img.height()).map(move |y| (x, y)))
        .map(|(x, y)| img.get_pixel(x, y).0[c] as f64)
        .sum::<f64>()
        / n
}

#[test]
fn border_pad_moves_the_edge_band_out_of_the_picture() {
    // starry_night paints a ~24 px yellow band down the left edge of whatever it is given
    // (at any size: the convolutions are local). Mirroring 32 px onto each side first
    // puts that band in the part cropped away.
    let model = shipped()
        .into_iter()
        .find(|p| p.file_stem().is_some_and(|s| s == "starry_night"))
        .expect("models/starry_night.safetensors");
    let s = Stylizer::load(&model, &Device::Cpu, Precision::F32).unwrap();
    let img = load_rgb(&shared_dir().join("data/content/test/amber.jpg")).unwrap();
    let img = image::imageops::resize(&img, 320, 320, image::imageops::FilterType::Triangle);
    // Blue, the channel the yellow band lacks: the edge strip against the wall beside it.
    let gap = |pad: u32| {
        let out = s
            .stylize(
                &img,
                &StylizeOptions {
                    border_pad: pad,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(out.dimensions(), img.dimensions());
        column_mean(&out, 32..64, 2) - column_mean(&out, 0..8, 2)
    };
    let (bare, padded) = (gap(0), gap(stylecast::stylize::DEFAULT_BORDER_PAD));
    eprintln!("left edge blue deficit: {bare:.1} without border pad, {padded:.1} with");
    assert!(
        bare > 40.0,
        "the band this test is about is gone: {bare:.1}"
    );
    assert!(padded.abs() < 15.0, "border pad left a band: {padded:.1}");
}
