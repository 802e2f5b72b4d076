//! The C ABI between the Fastlane data plane and its plugins, and nothing else: what crosses the
//! boundary is defined here once, `#[repr(C)]`, with every size and offset asserted at compile
//! time. Changing any of them fails to build until [`ABI_VERSION`] is bumped and the assertion is
//! updated; a host refuses a plugin of another version.
//!
//! - [`Slot`]: one packet of a batch (its buffer, extent, backend handle, verdict and the
//!   per-packet metadata word), with [`Packet`], the view processors and plugins edit it through.
//! - [`RawVerdict`]: the verdict as a plain `u32` with explicit codes; [`Verdict`] and
//!   [`DropReason`] are the Rust view of it and never cross the boundary themselves.
//! - [`plugin`]: the descriptor a plugin exports and the functions in it.
//!
//! The crate has no dependencies, so a plugin links it without any of the host's code.

mod packet;
pub mod plugin;
mod verdict;

pub use packet::{Packet, PacketError, Slot};
pub use verdict::{DropReason, PluginReason, PortId, RawVerdict, Verdict};

/// The version of this ABI. Bump it on any change of a `repr(C)` type here, of the verdict
/// encoding, or of a function type in [`plugin`]. Adding a [`DropReason`] does not change the
/// ABI: the codes of the existing ones are fixed. Version 3 added the descriptor's `poll`
/// (frames a plugin originates, through [`plugin::EmitHook`]).
pub const ABI_VERSION: u32 = 3;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("the Fastlane plugin ABI is defined (and its layout asserted) for 64-bit targets");
