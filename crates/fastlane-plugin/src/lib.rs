//! The stable surface of Fastlane plugins: packet processors compiled as a `cdylib` and loaded by
//! path from a config (`{ "type": "plugin", "path": "./libacl.so", "config": { ... } }`).
//!
//! A plugin implements [`Plugin`] and exports it with [`export!`]:
//!
//! ```ignore
//! struct Acl { /* ... */ }
//!
//! const DENIED_PORT: fastlane_plugin::PluginReason = fastlane_plugin::PluginReason(0);
//!
//! impl fastlane_plugin::Plugin for Acl {
//!     const COUNTERS: &'static [&'static str] = &["allowed"];
//!     const DROP_REASONS: &'static [&'static str] = &["denied_port"];
//!     fn new(config: &str) -> Result<Self, String> { /* parse the JSON text */ }
//!     fn process(&mut self, batch: &mut fastlane_plugin::Batch<'_>) {
//!         for mut packet in batch.iter_mut() { packet.drop_for(DENIED_PORT) }
//!     }
//! }
//!
//! fastlane_plugin::export!(Acl);
//! ```
//!
//! Nothing of Rust's own ABI crosses between host and plugin: the plugin exports one C symbol,
//! [`abi::ENTRY_SYMBOL`], returning an [`abi::PluginDescriptor`] of `extern "C"` functions over
//! the `#[repr(C)]` types of `fastlane-abi`, checked against [`ABI_VERSION`] when the host loads
//! it. A plugin links that crate and this one, nothing of the host's. Panics are caught in the
//! plugin and reported to the host, which fails the data-plane thread with the message.
//!
//! With the `host` feature the crate also holds the loader ([`host::PluginLibrary`],
//! [`host::PluginFactory`]).

mod batch;
mod counters;
mod emit;
#[doc(hidden)]
pub mod export;
#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "shared-memory")]
pub mod shared_memory;

/// The descriptor and function types of the boundary.
pub use fastlane_abi::plugin as abi;
pub use fastlane_abi::{
    DropReason, Packet, PacketError, PluginReason, PortId, Verdict, ABI_VERSION,
};

pub use batch::Batch;
pub use counters::Counters;
pub use emit::Emitter;

/// A packet processor built as a plugin. Each data-plane thread gets its own instance, created
/// from the stage's `config`, so a plugin keeps per-thread state without locks.
pub trait Plugin: Send + Sized + 'static {
    /// Names of the per-thread counters this plugin keeps; [`Counters::add`] takes an index into
    /// this list. The host reads them without calling into the plugin.
    const COUNTERS: &'static [&'static str] = &[];

    /// Names of this plugin's own drop reasons; [`Packet::drop_for`] takes a [`PluginReason`]
    /// indexing this list. The host counts each per thread and reports it by this name.
    const DROP_REASONS: &'static [&'static str] = &[];

    /// Builds one thread's instance from the stage's `config` as JSON text (`null` when the
    /// stage has none); an `Err` refuses the config and the data plane does not start.
    fn new(config: &str) -> Result<Self, String>;

    /// Decides verdicts for the packets of `batch` that no earlier stage dropped or gave to the
    /// kernel. A packet whose verdict is left alone keeps the one an earlier stage gave it.
    fn process(&mut self, batch: &mut Batch<'_>);

    /// Called by the data-plane thread once per round of its loop, whether or not packets
    /// arrived (at the latest about every 100 ms when idle): sends the
    /// frames the plugin originates (packets it held and now releases, messages it makes)
    /// through `out`. The default originates nothing.
    fn poll(&mut self, _out: &mut Emitter<'_>) {}
}
