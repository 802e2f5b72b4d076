//! The stable surface of Fastlane plugins: packet processors compiled as a `cdylib` and loaded by
//! path from a config (`{ "type": "plugin", "path": "./libacl.so", "config": { ... } }`).
//!
//! A plugin implements [`Plugin`] and exports it with [`export!`]:
//!
//! ```ignore
//! struct Acl { /* ... */ }
//!
//! impl fastlane_plugin::Plugin for Acl {
//!     const COUNTERS: &'static [&'static str] = &["allowed", "denied"];
//!     fn new(config: &serde_json::Value) -> Result<Self, String> { /* ... */ }
//!     fn process(&mut self, batch: &mut fastlane_plugin::Batch<'_>) { /* ... */ }
//! }
//!
//! fastlane_plugin::export!(Acl);
//! ```
//!
//! Nothing of Rust's own ABI crosses between host and plugin: the plugin exports one C symbol,
//! [`abi::ENTRY_SYMBOL`], returning an [`abi::PluginDescriptor`] of `extern "C"` functions over
//! `#[repr(C)]` data, checked against [`ABI_VERSION`] when the host loads it. Panics are caught in
//! the plugin and reported to the host, which fails the data-plane thread with the message.
//!
//! With the `host` feature the crate also holds the loader ([`host::PluginLibrary`],
//! [`host::PluginFactory`]).

pub mod abi;
mod batch;
mod counters;
#[doc(hidden)]
pub mod export;
#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "shared-memory")]
pub mod shared_memory;

pub use batch::Batch;
pub use counters::Counters;
pub use fastlane_core::wire;
pub use fastlane_core::{DropReason, Packet, PacketError, PortId, Verdict};
pub use serde_json;

/// The version of the plugin ABI this crate speaks. The host refuses a plugin whose descriptor
/// carries another version; bump it on any change to the types in [`abi`] or to the layout of
/// `Slot` and `Verdict`.
pub const ABI_VERSION: u32 = 1;

/// A packet processor built as a plugin. Each data-plane thread gets its own instance, created
/// from the stage's `config`, so a plugin keeps per-thread state without locks.
pub trait Plugin: Send + Sized + 'static {
    /// Names of the per-thread counters this plugin keeps; [`Counters::add`] takes an index into
    /// this list. The host reads them without calling into the plugin.
    const COUNTERS: &'static [&'static str] = &[];

    /// Builds one thread's instance; an `Err` refuses the config and the data plane does not start.
    fn new(config: &serde_json::Value) -> Result<Self, String>;

    /// Decides verdicts for the packets of `batch` that no earlier stage dropped or gave to the
    /// kernel. A packet whose verdict is left alone keeps the one an earlier stage gave it.
    fn process(&mut self, batch: &mut Batch<'_>);
}
