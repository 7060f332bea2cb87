//! VGG-16 features, Gram matrices, losses and their gradient against PyTorch
//! (../shared/conformance/vgg16).

use candle_core::{Device, Var};
use host_train::loss::{gram, perceptual_losses, LossConfig, StyleTarget};
use host_train::vgg::{Vgg16, VggLayer};
use stylecast_e2e::{conformance, load_tensors, rel_err, shared_dir};

fn vgg() -> Vgg16 {
    Vgg16::load(
        &shared_dir().join("weights/vgg16-features.safetensors"),
        &Device::Cpu,
    )
    .unwrap()
}

fn losses_json() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(conformance("vgg16/losses.json")).unwrap())
        .unwrap()
}

#[test]
fn features_and_grams_match_pytorch() {
    let t = load_tensors(&conformance("vgg16/tensors.safetensors"));
    let feats = vgg().features(&t["output"], VggLayer::Relu4_3).unwrap();
    for l in VggLayer::ALL {
        let f = &feats[l.index()];
        let e = rel_err(f, &t[&format!("output_{}", l.name())]);
        assert!(e < 1e-4, "{}: relative error {e}", l.name());
        let g = gram(f).unwrap();
        let e = rel_err(&g, &t[&format!("output_gram_{}", l.name())]);
        assert!(e < 1e-4, "gram {}: relative error {e}", l.name());
    }
}

#[test]
fn losses_and_gradient_match_pytorch() {
    let t = load_tensors(&conformance("vgg16/tensors.safetensors"));
    let expected = losses_json();
    let vgg = vgg();
    let cfg = LossConfig::default();
    let style = StyleTarget::new(&vgg, &t["style"], &cfg).unwrap();
    let y = Var::from_tensor(&t["output"]).unwrap();
    let l = perceptual_losses(&vgg, &cfg, &style, &t["content"], y.as_tensor()).unwrap();
    let get = |t: &candle_core::Tensor| t.to_scalar::<f32>().unwrap() as f64;
    let close = |name: &str, got: f64| {
        // f32 against a float64 reference: 1e-4 relative.
        let want = expected[name]
            .as_f64()
            .unwrap_or_else(|| panic!("losses.json lacks {name}: {expected}"));
        assert!(
            (got - want).abs() <= 1e-4 * want.abs(),
            "{name}: got {got}, PyTorch {want}"
        );
    };
    close("content_mse_relu3_3", get(&l.content));
    close("style_mse_sum", get(&l.style));
    close("tv", get(&l.tv));
    close("total_cw1e5_relu3_3_sw1e10_tv1e-2", get(&l.total));
    // Each style layer on its own, and the paper's content layer.
    for layer in VggLayer::ALL {
        let cfg1 = LossConfig {
            style_layers: vec![(layer, 1.0)],
            ..LossConfig::default()
        };
        let st = StyleTarget::new(&vgg, &t["style"], &cfg1).unwrap();
        let l1 = perceptual_losses(&vgg, &cfg1, &st, &t["content"], &t["output"]).unwrap();
        close(&format!("style_mse_{}", layer.name()), get(&l1.style));
    }
    let cfg2 = LossConfig {
        content_layer: VggLayer::Relu2_2,
        ..LossConfig::default()
    };
    let l2 = perceptual_losses(&vgg, &cfg2, &style, &t["content"], &t["output"]).unwrap();
    close("content_mse_relu2_2", get(&l2.content));
    let grads = l.total.backward().unwrap();
    let g = grads.get(y.as_tensor()).unwrap();
    let e = rel_err(g, &t["grad_total_wrt_output"]);
    assert!(e < 1e-4, "gradient wrt output: relative error {e}");
}
