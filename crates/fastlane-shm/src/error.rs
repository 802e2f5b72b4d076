//! The crate's errors, each with the name, syscall or field it is about.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    #[error("invalid region name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("invalid layout: {0}")]
    InvalidLayout(String),
    #[error("region {name:?} already exists (create it with reuse to attach to it)")]
    AlreadyExists { name: String },
    #[error("region {name:?} does not exist")]
    NotFound { name: String },
    #[error("{syscall} on region {name:?}: {source}")]
    Sys {
        syscall: &'static str,
        name: String,
        source: io::Error,
    },
    #[error("region {name:?} is not a Fastlane region: {reason}")]
    NotARegion { name: String, reason: String },
    #[error("region {name:?} has layout version {found}, this library speaks version {expected}")]
    Version {
        name: String,
        found: u32,
        expected: u32,
    },
    #[error("region {name:?} has a different layout: {differences}")]
    LayoutMismatch { name: String, differences: String },
    #[error("no {kind} named {object:?} in the layout")]
    UnknownObject { kind: &'static str, object: String },
    #[error("{what} of {object:?} is {len} bytes, the layout says {expected}")]
    WrongSize {
        what: &'static str,
        object: String,
        len: usize,
        expected: usize,
    },
    #[error("table {table:?} is full ({capacity} entries)")]
    TableFull { table: String, capacity: u64 },
    #[error("{role} of {object:?} is held by process {pid}")]
    Locked {
        role: &'static str,
        object: String,
        pid: u32,
    },
    #[error("{role} of {object:?} is held by another handle in this process")]
    LockedHere { role: &'static str, object: String },
}
