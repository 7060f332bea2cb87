//! Helpers for the unit tests of several modules.

use candle_core::Tensor;

/// [`crate::compare::max_rel_diff`], for tests.
pub fn max_rel(got: &Tensor, want: &Tensor) -> f64 {
    crate::compare::max_rel_diff(got, want).unwrap()
}
