//! What becomes of a packet once the processors are done with it. The types are the plugin ABI's
//! (`fastlane-abi`), so that core, backends and plugins share one definition and one encoding.

pub use fastlane_abi::{DropReason, PluginReason, PortId, RawVerdict, Verdict};
