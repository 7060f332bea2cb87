//! The image transformation network of Johnson et al. 2016: its shape ([`config`]), its
//! layers and blocks ([`blocks`]), the whole network ([`transformer`]) and which of its styles
//! it paints with ([`style_mix`]).

pub mod blocks;
pub mod config;
pub mod style_mix;
pub mod transformer;
