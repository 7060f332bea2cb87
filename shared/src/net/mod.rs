//! The image transformation network of Johnson et al. 2016: its shape ([`config`]), its
//! layers and blocks ([`blocks`]) and the whole network ([`transformer`]).

pub mod blocks;
pub mod config;
pub mod transformer;
