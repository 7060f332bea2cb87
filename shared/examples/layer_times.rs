//! Per-layer CPU inference time of the default network's convolutions at a 320x240 frame
//! (the kiosk default), random weights: which layer costs what, in GMAC/s.
//!
//!     cargo run --release -p stylecast --example layer_times
//!
//! The upsample layers are timed both ways: as a plain convolution of the upsampled, padded
//! image, and in the sub-pixel form the runtime uses (src/ops/subpixel.rs).
use candle_core::{Device, Module, Tensor};
use std::time::Instant;
use stylecast::ops::conv::{Conv2d, ConvParams};
use stylecast::ops::subpixel::upsample2x_conv3x3;
fn main() {
    let d = Device::Cpu;
    // (cin, cout, k, stride, input h, w) for a 320x240 frame (reflection-padded inputs)
    let layers = [
        ("conv1 3->32 9x9", 3, 32, 9, 1, 248, 328),
        ("conv2 32->64 s2", 32, 64, 3, 2, 242, 322),
        ("conv3 64->128 s2", 64, 128, 3, 2, 122, 162),
        ("res 128->128", 128, 128, 3, 1, 62, 82),
        ("deconv1 128->64", 128, 64, 3, 1, 122, 162),
        ("deconv2 64->32", 64, 32, 3, 1, 242, 322),
        ("deconv3 32->3 9x9", 32, 3, 9, 1, 248, 328),
    ];
    let only = std::env::args().nth(1);
    for (name, ci, co, k, s, h, w) in layers {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let x = Tensor::randn(0f32, 1., (1, ci, h, w), &d).unwrap();
        let wt = Tensor::randn(0f32, 0.1, (co, ci, k, k), &d).unwrap();
        let conv = Conv2d::new(
            wt,
            None,
            ConvParams {
                stride: s,
                padding: 0,
            },
            true,
        );
        let _ = conv.forward(&x).unwrap();
        let t = Instant::now();
        let n = 3;
        for _ in 0..n {
            let _ = conv.forward(&x).unwrap();
        }
        let ms = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
        let ho = (h - k) / s + 1;
        let wo = (w - k) / s + 1;
        let gmac = (ci * co * k * k * ho * wo) as f64 / 1e9;
        println!("{name:20} {ms:8.1} ms  {:.2} GMAC/s", gmac / ms * 1000.0);
    }
    // The upsample layers as the runtime computes them: from the small image.
    for (name, ci, co, h, w) in [
        ("deconv1 sub-pixel", 128, 64, 60, 80),
        ("deconv2 sub-pixel", 64, 32, 120, 160),
    ] {
        let x = Tensor::randn(0f32, 1., (1, ci, h, w), &d).unwrap();
        let wt = Tensor::randn(0f32, 0.1, (co, ci, 3, 3), &d).unwrap();
        let conv2x2 = |x: &Tensor, w: &Tensor| {
            Conv2d::new(
                w.clone(),
                None,
                ConvParams {
                    stride: 1,
                    padding: 0,
                },
                true,
            )
            .forward(x)
        };
        let _ = upsample2x_conv3x3(&x, &wt, conv2x2).unwrap();
        let t = Instant::now();
        let n = 3;
        for _ in 0..n {
            let _ = upsample2x_conv3x3(&x, &wt, conv2x2).unwrap();
        }
        let ms = t.elapsed().as_secs_f64() * 1000.0 / n as f64;
        // MACs of the layer as defined (3x3 on the upsampled image).
        let gmac = (ci * co * 9 * 4 * h * w) as f64 / 1e9;
        println!(
            "{name:20} {ms:8.1} ms  {:.2} effective GMAC/s",
            gmac / ms * 1000.0
        );
    }
}
