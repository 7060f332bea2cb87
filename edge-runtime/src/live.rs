//! Live mode: a source (camera, test pattern, demo image) through the network to a
//! window or to files. (Filled in by the live-pipeline work.)

use anyhow::{bail, Result};
use stylecast::{Precision, StylizeOptions};

use crate::RunArgs;

pub fn run(_args: &RunArgs, _precision: Precision, _opts: StylizeOptions) -> Result<()> {
    bail!("live mode is not implemented yet: use --input FILES --output DIR")
}
