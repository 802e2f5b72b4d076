//! The 5G UPF's user plane (GTP-U, TS 29.281) as a Fastlane plugin.

pub mod buffer;
pub mod config;
pub mod encap;
pub mod flow;
pub mod meter;
pub mod n3;
pub mod node;
