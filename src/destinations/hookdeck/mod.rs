//! Hookdeck Event Gateway.

pub mod send;
pub mod token;
