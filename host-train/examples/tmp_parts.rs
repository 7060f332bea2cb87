use candle_core::{Device, Tensor, Var};
use std::time::Instant;
fn time(name: &str, f: impl Fn() -> candle_core::Result<()>) {
    f().unwrap();
    let t = Instant::now();
    for _ in 0..3 {
        f().unwrap();
    }
    println!("{name}: {:.1} ms", t.elapsed().as_secs_f64() * 1e3 / 3.0);
}
fn main() {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 64, 256, 256), &dev).unwrap()).unwrap();
    time("sum only 64x256", || {
        x.as_tensor().sum_all()?.backward()?;
        Ok(())
    });
    time("maxpool fwd 64x256", || {
        host_train::vgg::max_pool2x2(x.as_tensor())?;
        Ok(())
    });
    time("maxpool fwd+bwd 64x256", || {
        host_train::vgg::max_pool2x2(x.as_tensor())?
            .sum_all()?
            .backward()?;
        Ok(())
    });
    time("relu fwd+bwd 64x256", || {
        stylecast::relu::relu(x.as_tensor())?
            .sum_all()?
            .backward()?;
        Ok(())
    });
    time("zeropad fwd+bwd 64x256", || {
        x.as_tensor()
            .pad_with_zeros(2, 1, 1)?
            .pad_with_zeros(3, 1, 1)?
            .sum_all()?
            .backward()?;
        Ok(())
    });
    time("zeropad fwd 64x256", || {
        x.as_tensor()
            .pad_with_zeros(2, 1, 1)?
            .pad_with_zeros(3, 1, 1)?;
        Ok(())
    });
    let u = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 64, 128, 128), &dev).unwrap()).unwrap();
    time("upsample fwd 64x128", || {
        stylecast::upsample::upsample_nearest2x(u.as_tensor())?;
        Ok(())
    });
    time("upsample fwd+bwd 64x128", || {
        stylecast::upsample::upsample_nearest2x(u.as_tensor())?
            .sum_all()?
            .backward()?;
        Ok(())
    });
    time("add fwd+bwd 64x256", || {
        (x.as_tensor() + x.as_tensor())?.sum_all()?.backward()?;
        Ok(())
    });
}
