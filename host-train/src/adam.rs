//! Adam (Kingma & Ba) as PyTorch's `torch.optim.Adam` computes it, with its moments
//! public so checkpoints can hold them: candle-nn's AdamW keeps them private, which
//! rules out an exact resume.

use std::collections::BTreeMap;

use candle_core::{backprop::GradStore, Result, Tensor, Var};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// One parameter and its two moment estimates.
pub struct AdamSlot {
    pub var: Var,
    pub m: Tensor,
    pub v: Tensor,
}

pub struct Adam {
    pub cfg: AdamConfig,
    /// Keyed by parameter name, so a checkpoint maps back unambiguously.
    pub slots: BTreeMap<String, AdamSlot>,
    /// Steps taken so far (PyTorch's `state['step']`).
    pub t: u64,
}

impl Adam {
    pub fn new(vars: impl IntoIterator<Item = (String, Var)>, cfg: AdamConfig) -> Result<Self> {
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let m = var.zeros_like()?;
                let v = var.zeros_like()?;
                Ok((name, AdamSlot { var, m, v }))
            })
            .collect::<Result<_>>()?;
        Ok(Self { cfg, slots, t: 0 })
    }

    /// Applies one update from `grads`. A parameter without a gradient is left alone.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.t += 1;
        let AdamConfig {
            lr,
            beta1,
            beta2,
            eps,
        } = self.cfg;
        let bc1 = 1.0 - beta1.powi(self.t as i32);
        let bc2 = 1.0 - beta2.powi(self.t as i32);
        let step_size = lr / bc1;
        let bc2_sqrt = bc2.sqrt();
        for slot in self.slots.values_mut() {
            let Some(g) = grads.get(slot.var.as_tensor()) else {
                continue;
            };
            slot.m = ((&slot.m * beta1)? + (g * (1.0 - beta1))?)?;
            slot.v = ((&slot.v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            // PyTorch: p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
            let denom = ((slot.v.sqrt()? / bc2_sqrt)? + eps)?;
            let update = (slot.m.div(&denom)? * step_size)?;
            slot.var.set(&slot.var.as_tensor().sub(&update)?)?;
        }
        Ok(())
    }
}
