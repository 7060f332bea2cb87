//! Which of a network's styles to paint with: one style, or a blend of several.
//!
//! A multi-style network (conditional instance norm, Dumoulin et al. 2017) holds one scale
//! and shift per style for every instance norm; a blend is the weighted mean of those, so
//! `starry_night:0.6,the_scream:0.4` is a new style in between, and moving the weights
//! over time morphs one style into another at the cost of mixing a few thousand numbers.

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// Weights over a network's styles, non-negative and summing to 1.
#[derive(Debug, Clone, PartialEq)]
pub struct StyleMix {
    weights: Vec<f32>,
}

impl StyleMix {
    /// All of style `index` of `styles`.
    pub fn single(index: usize, styles: usize) -> Result<Self> {
        if index >= styles {
            return Err(Error::Invalid(format!(
                "style index {index} is out of range: the network has {styles} style(s), 0..={}",
                styles.saturating_sub(1)
            )));
        }
        let mut weights = vec![0.0; styles];
        weights[index] = 1.0;
        Ok(Self { weights })
    }

    /// Weights as given, normalised to sum 1: each finite and non-negative, not all zero.
    pub fn from_weights(weights: Vec<f32>) -> Result<Self> {
        if weights.is_empty() {
            return Err(Error::Invalid(
                "a style mix needs at least one style".into(),
            ));
        }
        if let Some(w) = weights.iter().find(|w| !w.is_finite() || **w < 0.0) {
            return Err(Error::Invalid(format!(
                "style weight {w} is not allowed: weights must be finite and 0 or more"
            )));
        }
        let sum: f32 = weights.iter().sum();
        if sum <= 0.0 {
            return Err(Error::Invalid(
                "style weights are all zero: give at least one a positive weight".into(),
            ));
        }
        Ok(Self {
            weights: weights.into_iter().map(|w| w / sum).collect(),
        })
    }

    /// Reads `NAME`, `INDEX`, or a blend `NAME:W,NAME:W,...` (names or indices, weights
    /// normalised; a style without `:W` weighs 1) against the network's style names.
    pub fn parse(spec: &str, names: &[impl AsRef<str>]) -> Result<Self> {
        let n = names.len();
        let mut weights = vec![0f32; n];
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(Error::Invalid(
                "empty style: give a name, an index or NAME:W,...".into(),
            ));
        }
        for part in spec.split(',') {
            let part = part.trim();
            let (key, weight) = match part.rsplit_once(':') {
                Some((k, w)) => {
                    let w: f32 = w.trim().parse().map_err(|_| {
                        Error::Invalid(format!(
                            "style weight {:?} in {part:?} is not a number (expected NAME:W, e.g. starry_night:0.6)",
                            w.trim()
                        ))
                    })?;
                    (k.trim(), w)
                }
                None => (part, 1.0),
            };
            let index = Self::index_of(key, names)?;
            if !weight.is_finite() || weight < 0.0 {
                return Err(Error::Invalid(format!(
                    "style weight {weight} for {key:?} is not allowed: weights must be finite and 0 or more"
                )));
            }
            weights[index] += weight;
        }
        Self::from_weights(weights)
    }

    /// The index of a style by name, or by number.
    pub fn index_of(key: &str, names: &[impl AsRef<str>]) -> Result<usize> {
        if let Some(i) = names.iter().position(|s| s.as_ref() == key) {
            return Ok(i);
        }
        if let Ok(i) = key.parse::<usize>() {
            if i < names.len() {
                return Ok(i);
            }
        }
        let list: Vec<&str> = names.iter().map(|s| s.as_ref()).collect();
        Err(Error::Invalid(format!(
            "unknown style {key:?}: this model has {} ({}), or an index 0..={}",
            if list.len() == 1 {
                "one style"
            } else {
                "the styles"
            },
            list.join(", "),
            list.len().saturating_sub(1)
        )))
    }

    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    pub fn styles(&self) -> usize {
        self.weights.len()
    }

    /// The style with the largest weight (the first of equals).
    pub fn dominant(&self) -> usize {
        let mut best = 0;
        for (i, w) in self.weights.iter().enumerate() {
            if *w > self.weights[best] {
                best = i;
            }
        }
        best
    }

    /// Whether it is all one style.
    pub fn single_index(&self) -> Option<usize> {
        let i = self.dominant();
        (self.weights[i] == 1.0).then_some(i)
    }

    /// `self` at `t = 0`, `to` at `t = 1`, the weights linearly between (a morph step).
    pub fn lerp(&self, to: &StyleMix, t: f32) -> Result<Self> {
        if self.styles() != to.styles() {
            return Err(Error::Invalid(format!(
                "cannot morph between mixes of {} and {} styles",
                self.styles(),
                to.styles()
            )));
        }
        let t = t.clamp(0.0, 1.0);
        let weights = self
            .weights
            .iter()
            .zip(&to.weights)
            .map(|(a, b)| a * (1.0 - t) + b * t)
            .collect();
        Self::from_weights(weights)
    }

    /// `starry_night`, or `starry_night:0.60,the_scream:0.40` (styles of weight 0 left out).
    pub fn label(&self, names: &[impl AsRef<str>]) -> String {
        let name = |i: usize| {
            names
                .get(i)
                .map(|s| s.as_ref().to_string())
                .unwrap_or_else(|| i.to_string())
        };
        if let Some(i) = self.single_index() {
            return name(i);
        }
        self.weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w > 0.0)
            .map(|(i, w)| format!("{}:{w:.2}", name(i)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The weights as a `[styles]` f32 tensor.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::new(self.weights.as_slice(), device)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: [&str; 3] = ["starry_night", "the_scream", "wave"];

    #[test]
    fn names_indices_and_blends_parse_and_normalise() {
        assert_eq!(
            StyleMix::parse("the_scream", &NAMES).unwrap().weights(),
            &[0.0, 1.0, 0.0]
        );
        assert_eq!(
            StyleMix::parse("2", &NAMES).unwrap().weights(),
            &[0.0, 0.0, 1.0]
        );
        let m = StyleMix::parse("starry_night:0.6, the_scream:0.4", &NAMES).unwrap();
        assert_eq!(m.weights(), &[0.6, 0.4, 0.0]);
        assert_eq!(m.label(&NAMES), "starry_night:0.60,the_scream:0.40");
        let m = StyleMix::parse("0:3,wave:1", &NAMES).unwrap();
        assert_eq!(m.weights(), &[0.75, 0.0, 0.25]);
        assert_eq!(m.dominant(), 0);
        assert_eq!(
            StyleMix::parse("wave", &NAMES).unwrap().label(&NAMES),
            "wave"
        );
    }

    #[test]
    fn bad_styles_and_weights_say_what_is_wrong() {
        let err = |s: &str| StyleMix::parse(s, &NAMES).unwrap_err().to_string();
        let e = err("mona_lisa");
        assert!(
            e.contains("unknown style \"mona_lisa\"")
                && e.contains("starry_night, the_scream, wave"),
            "{e}"
        );
        assert!(
            err("3").contains("unknown style \"3\""),
            "out of range index"
        );
        assert!(err("wave:-1").contains("weight -1"), "negative");
        assert!(err("wave:0,the_scream:0").contains("all zero"));
        assert!(err("wave:abc").contains("\"abc\" in \"wave:abc\" is not a number"));
        assert!(err("wave:NaN").contains("NaN"));
        assert!(err("").contains("empty style"));
        assert!(StyleMix::single(3, 3)
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        assert!(StyleMix::from_weights(vec![]).is_err());
    }

    #[test]
    fn a_morph_moves_linearly_from_one_mix_to_the_other() {
        let a = StyleMix::single(0, 3).unwrap();
        let b = StyleMix::single(2, 3).unwrap();
        assert_eq!(a.lerp(&b, 0.0).unwrap(), a);
        assert_eq!(a.lerp(&b, 1.0).unwrap(), b);
        assert_eq!(a.lerp(&b, 0.25).unwrap().weights(), &[0.75, 0.0, 0.25]);
        assert!(a.lerp(&StyleMix::single(0, 2).unwrap(), 0.5).is_err());
    }
}
