//! The network's shape, as a plain serde struct stored in every model file.

use serde::{Deserialize, Serialize};

/// Channel widths and depth of the image transformation network.
///
/// The default is the network of Johnson et al. 2016 as pytorch/examples
/// `fast_neural_style` builds it: 32/64/128 channels, five residual blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// Channels after the 9x9 input conv, the first and the second stride-2 conv.
    pub channels: [usize; 3],
    /// Residual blocks at the narrowest resolution.
    pub residual_blocks: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            channels: [32, 64, 128],
            residual_blocks: 5,
        }
    }
}

impl NetConfig {
    /// A narrower network (half the channels) for real time on small CPUs.
    pub fn small() -> Self {
        Self {
            channels: [16, 32, 64],
            residual_blocks: 5,
        }
    }

    /// Every parameter's name and shape, in the pytorch/examples state-dict layout.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let [c1, c2, c3] = self.channels;
        let mut v = Vec::new();
        let mut conv = |name: &str, cin: usize, cout: usize, k: usize| {
            v.push((format!("{name}.conv2d.weight"), vec![cout, cin, k, k]));
            v.push((format!("{name}.conv2d.bias"), vec![cout]));
        };
        conv("conv1", 3, c1, 9);
        conv("conv2", c1, c2, 3);
        conv("conv3", c2, c3, 3);
        for i in 1..=self.residual_blocks {
            conv(&format!("res{i}.conv1"), c3, c3, 3);
            conv(&format!("res{i}.conv2"), c3, c3, 3);
        }
        conv("deconv1", c3, c2, 3);
        conv("deconv2", c2, c1, 3);
        conv("deconv3", c1, 3, 9);
        let mut norm = |name: String, c: usize| {
            v.push((format!("{name}.weight"), vec![c]));
            v.push((format!("{name}.bias"), vec![c]));
        };
        norm("in1".into(), c1);
        norm("in2".into(), c2);
        norm("in3".into(), c3);
        for i in 1..=self.residual_blocks {
            norm(format!("res{i}.in1"), c3);
            norm(format!("res{i}.in2"), c3);
        }
        norm("in4".into(), c2);
        norm("in5".into(), c1);
        v
    }

    /// Multiply-accumulates for one frame of `h` x `w` (a multiple of 4).
    pub fn macs(&self, h: usize, w: usize) -> u64 {
        let [c1, c2, c3] = self.channels.map(|c| c as u64);
        let (h, w) = (h as u64, w as u64);
        let full = h * w;
        let half = full / 4;
        let quarter = full / 16;
        full * c1 * 3 * 81
            + half * c2 * c1 * 9
            + quarter * c3 * c2 * 9
            + self.residual_blocks as u64 * 2 * quarter * c3 * c3 * 9
            + half * c2 * c3 * 9
            + full * c1 * c2 * 9
            + full * 3 * c1 * 81
    }
}
