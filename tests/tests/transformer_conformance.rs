//! The network against PyTorch's reference outputs in ../shared/conformance/transformer_net.

use candle_core::{DType, Device, Tensor};

use stylecast::io::image::{psnr, tensor_to_image};
use stylecast::{ModelFile, Precision, Stylizer};
use stylecast_e2e::{conformance, load_tensors, rel_err};

fn io() -> (Tensor, Tensor) {
    let t = load_tensors(&conformance("transformer_net/io.safetensors"));
    (t["input"].clone(), t["output"].clone())
}

fn check(model: &ModelFile) {
    let (input, expected) = io();
    let s = Stylizer::from_model(model, &Device::Cpu, Precision::F32).unwrap();
    let got = s.net().forward_raw(&input).unwrap();
    let e = rel_err(&got, &expected);
    assert!(e < 1e-4, "relative error {e} against PyTorch");
}

#[test]
fn safetensors_model_matches_pytorch() {
    let m = ModelFile::load(
        &conformance("transformer_net/model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    assert_eq!(m.meta.config, stylecast::NetConfig::default());
    check(&m);
}

#[test]
fn pth_model_matches_pytorch() {
    check(&ModelFile::import_pth(&conformance("transformer_net/model.pth"), "fixture").unwrap());
}

#[test]
fn pth_with_running_stats_matches_pytorch() {
    let m = ModelFile::import_pth(
        &conformance("transformer_net/model_with_running_stats.pth"),
        "fixture",
    )
    .unwrap();
    assert!(!m.tensors.keys().any(|k| k.contains("running")));
    check(&m);
}

#[test]
fn clamped_forward_equals_clamped_reference() {
    let (input, expected) = io();
    let m = ModelFile::load(
        &conformance("transformer_net/model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let s = Stylizer::from_model(&m, &Device::Cpu, Precision::F32).unwrap();
    let got = s.forward(&input).unwrap();
    let e = rel_err(&got, &expected.clamp(0f32, 255f32).unwrap());
    assert!(e < 1e-4, "relative error {e}");
}

#[test]
fn f16_weights_stay_above_40_db() {
    let (input, _) = io();
    let m = ModelFile::load(
        &conformance("transformer_net/model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let f32_out = Stylizer::from_model(&m, &Device::Cpu, Precision::F32)
        .unwrap()
        .forward(&input)
        .unwrap();
    let f16 = m.to_dtype(DType::F16).unwrap();
    // f16 weights computed in f32 (the CPU path) and in f16 (the GPU path).
    for precision in [Precision::F32, Precision::F16] {
        let out = Stylizer::from_model(&f16, &Device::Cpu, precision)
            .unwrap()
            .forward(&input)
            .unwrap();
        let p = psnr(
            &tensor_to_image(&f32_out).unwrap(),
            &tensor_to_image(&out).unwrap(),
        );
        assert!(p >= 40.0, "{precision:?}: PSNR {p:.1} dB < 40 dB");
    }
}

#[test]
fn odd_sizes_keep_their_size() {
    let m = ModelFile::load(
        &conformance("transformer_net/model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let s = Stylizer::from_model(&m, &Device::Cpu, Precision::F32).unwrap();
    for (h, w) in [
        (1, 1),
        (3, 5),
        (17, 31),
        (30, 29),
        (64, 97),
        (63, 64),
        (255, 384),
    ] {
        let x = (Tensor::rand(0f32, 255f32, (1, 3, h, w), &Device::Cpu).unwrap())
            .contiguous()
            .unwrap();
        let y = s.forward(&x).unwrap();
        assert_eq!(y.dims4().unwrap(), (1, 3, h, w));
        let v = y.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(
            v.iter().all(|p| (0.0..=255.0).contains(p)),
            "output outside [0, 255]"
        );
    }
}

#[test]
fn multiple_of_four_input_is_not_padded() {
    // On a size that needs no padding, the public forward is the raw network, clamped.
    let (input, _) = io();
    let m = ModelFile::load(
        &conformance("transformer_net/model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    let s = Stylizer::from_model(&m, &Device::Cpu, Precision::F32).unwrap();
    let a = s.forward(&input).unwrap();
    let b = s
        .net()
        .forward_raw(&input)
        .unwrap()
        .clamp(0f32, 255f32)
        .unwrap();
    assert_eq!(rel_err(&a, &b), 0.0);
}

#[test]
fn save_load_round_trip_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = ModelFile::load(
        &conformance("transformer_net/model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    m.meta.style = "round trip".into();
    m.meta.training = Some(serde_json::json!({"steps": 3, "style_weight": 1e10}));
    for dtype in [DType::F32, DType::F16] {
        let m = m.to_dtype(dtype).unwrap();
        let p = dir.path().join(format!("m-{dtype:?}.safetensors"));
        m.save(&p).unwrap();
        let back = ModelFile::load(&p, &Device::Cpu).unwrap();
        assert_eq!(back.meta, m.meta);
        assert_eq!(back.dtype(), dtype);
        assert_eq!(back.tensors.len(), m.tensors.len());
        for (k, v) in &m.tensors {
            let b = &back.tensors[k];
            assert_eq!(b.dtype(), dtype);
            let d = (v.to_dtype(DType::F32).unwrap() - b.to_dtype(DType::F32).unwrap()).unwrap();
            assert_eq!(
                d.abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap(),
                0.0,
                "{k} changed"
            );
        }
    }
}
