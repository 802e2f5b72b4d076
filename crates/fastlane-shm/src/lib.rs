//! Shared memory between Fastlane's fast path and its slow path, which may be other processes in
//! other languages: a named region holding fixed-capacity hash tables (one writer, lock-free
//! readers that never see a torn record, even when the writer is killed mid-update), bounded
//! single-producer single-consumer channels, and arrays of atomic cells that any process updates.
//!
//! ```no_run
//! use fastlane_shm::{Layout, Region};
//! let layout = Layout::new().table("pdr", 16, 64, 1 << 20).channel("events", 256, 1024);
//! let region = Region::open("upf", &layout)?;
//! let pdr = region.table("pdr")?;
//! let mut value = [0u8; 64];
//! if pdr.get_into(&[0u8; 16], &mut value) { /* forward */ }
//! # Ok::<(), fastlane_shm::ShmError>(())
//! ```

mod cells;
mod channel;
mod error;
mod layout;
mod lock;
mod mem;
mod region;
mod table;

pub use cells::Cells;
pub use channel::Channel;
pub use error::ShmError;
pub use layout::{
    Layout, ObjectKind, ObjectSpec, MAX_CELL, MAX_KEY, MAX_MESSAGE, MAX_NAME, MAX_OBJECTS,
    MAX_VALUE,
};
pub use region::{receive_region, send_region, Existing, Region};
pub use table::{Iter, Table};
