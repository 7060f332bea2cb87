//! The network's shape, as a plain serde struct stored in every model file, and its bounds.

use serde::{Deserialize, Serialize};

/// Most channels a layer may have: four times the default network's widest (128). A file
/// declares its config before its tensors, and everything the loader and the network
/// allocate grows with it, so a hostile or damaged file must not choose freely.
pub const MAX_CHANNELS: usize = 512;
/// Most residual blocks a network may have (the default has 5).
pub const MAX_RESIDUAL_BLOCKS: usize = 64;
/// Most styles one network may hold (Dumoulin et al. trained 32).
pub const MAX_STYLES: usize = 256;

/// Channel widths and depth of the image transformation network.
///
/// The default is the network of Johnson et al. 2016 as pytorch/examples
/// `fast_neural_style` builds it: 32/64/128 channels, five residual blocks. Deserializing
/// checks the bounds ([`NetConfig::check`]), so no model file or checkpoint can declare
/// a network of a hundred million blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Fields")]
pub struct NetConfig {
    /// Channels after the 9x9 input conv, the first and the second stride-2 conv.
    pub channels: [usize; 3],
    /// Residual blocks at the narrowest resolution.
    pub residual_blocks: usize,
    /// Styles the network holds: each is its own scale and shift of every instance norm
    /// (conditional instance norm, Dumoulin et al. 2017), the convolutions are shared.
    /// Not written when 1, so that single-style files read as before.
    #[serde(skip_serializing_if = "is_one")]
    pub styles: usize,
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

/// `NetConfig` as stored, before its bounds are checked.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Fields {
    channels: [usize; 3],
    residual_blocks: usize,
    styles: usize,
}

impl Default for Fields {
    fn default() -> Self {
        let d = NetConfig::default();
        Self {
            channels: d.channels,
            residual_blocks: d.residual_blocks,
            styles: d.styles,
        }
    }
}

impl TryFrom<Fields> for NetConfig {
    type Error = String;
    fn try_from(f: Fields) -> Result<Self, String> {
        let c = NetConfig {
            channels: f.channels,
            residual_blocks: f.residual_blocks,
            styles: f.styles,
        };
        c.check()?;
        Ok(c)
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            channels: [32, 64, 128],
            residual_blocks: 5,
            styles: 1,
        }
    }
}

impl NetConfig {
    /// A narrower network (half the channels) for real time on small CPUs.
    pub fn small() -> Self {
        Self {
            channels: [16, 32, 64],
            residual_blocks: 5,
            styles: 1,
        }
    }

    /// The same network holding `styles` styles.
    pub fn with_styles(self, styles: usize) -> Self {
        Self { styles, ..self }
    }

    /// Whether every field is within its bound: channels 1..=[`MAX_CHANNELS`], residual
    /// blocks 0..=[`MAX_RESIDUAL_BLOCKS`], styles 1..=[`MAX_STYLES`]. The message names
    /// the field and the bound.
    pub fn check(&self) -> Result<(), String> {
        for (i, &c) in self.channels.iter().enumerate() {
            if !(1..=MAX_CHANNELS).contains(&c) {
                return Err(format!("channels[{i}] is {c}, outside 1..={MAX_CHANNELS}"));
            }
        }
        if self.residual_blocks > MAX_RESIDUAL_BLOCKS {
            return Err(format!(
                "residual_blocks is {}, more than {MAX_RESIDUAL_BLOCKS}",
                self.residual_blocks
            ));
        }
        if !(1..=MAX_STYLES).contains(&self.styles) {
            return Err(format!(
                "styles is {}, outside 1..={MAX_STYLES}",
                self.styles
            ));
        }
        Ok(())
    }

    /// Every parameter's name and shape, in the pytorch/examples state-dict layout; with
    /// several styles each instance norm's weight and bias are `[styles, channels]`.
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
        let styles = self.styles;
        let mut norm = |name: String, c: usize| {
            let shape = if styles == 1 {
                vec![c]
            } else {
                vec![styles, c]
            };
            v.push((format!("{name}.weight"), shape.clone()));
            v.push((format!("{name}.bias"), shape));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_configs_are_bounded() {
        let parse = |s: &str| serde_json::from_str::<NetConfig>(s);
        assert_eq!(parse("{}").unwrap(), NetConfig::default());
        assert_eq!(
            parse(r#"{"channels":[16,32,64]}"#).unwrap(),
            NetConfig::small()
        );
        let e = parse(r#"{"residual_blocks":100000000}"#).unwrap_err();
        assert!(
            e.to_string().contains("residual_blocks is 100000000"),
            "{e}"
        );
        let e = parse(r#"{"channels":[32,0,128]}"#).unwrap_err();
        assert!(e.to_string().contains("channels[1] is 0"), "{e}");
        let e = parse(r#"{"channels":[32,64,1000000]}"#).unwrap_err();
        assert!(e.to_string().contains("outside 1..=512"), "{e}");
        assert!(
            parse(r#"{"depth":3}"#).is_err(),
            "unknown fields are refused"
        );
        let e = parse(r#"{"styles":0}"#).unwrap_err();
        assert!(e.to_string().contains("styles is 0"), "{e}");
        let e = parse(r#"{"styles":100000}"#).unwrap_err();
        assert!(e.to_string().contains("styles is 100000"), "{e}");
        // One style is not written: older builds (which refuse unknown fields) read it.
        let json = serde_json::to_string(&NetConfig::default()).unwrap();
        assert!(!json.contains("styles"), "{json}");
        let multi = NetConfig::default().with_styles(8);
        assert_eq!(
            parse(&serde_json::to_string(&multi).unwrap()).unwrap(),
            multi
        );
        let wide = NetConfig {
            channels: [MAX_CHANNELS; 3],
            residual_blocks: MAX_RESIDUAL_BLOCKS,
            styles: MAX_STYLES,
        };
        assert_eq!(wide.check(), Ok(()));
        assert_eq!(parse(&serde_json::to_string(&wide).unwrap()).unwrap(), wide);
    }
}
