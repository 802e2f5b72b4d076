//! The region's objects and their sizes, from the capacities in the UPF's config. One list
//! (`OBJECTS`) makes the Rust layout and, printed by `examples/layout.rs`, the TypeScript one.

use fastlane_shm::Layout;

use crate::records::*;

/// How many of each the UPF holds; everything else is sized from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacities {
    pub sessions: u32,
    pub pdrs: u32,
    pub fars: u32,
    pub qers: u32,
    pub urrs: u32,
    pub next_hops: u32,
    /// One `events.N` channel per fast-path thread that raises events.
    pub event_channels: u32,
    /// Events each channel holds before it drops.
    pub event_capacity: u32,
}

impl Default for Capacities {
    fn default() -> Self {
        Capacities {
            sessions: 10_000,
            pdrs: 20_000,
            fars: 20_000,
            qers: 10_000,
            urrs: 20_000,
            next_hops: 1024,
            event_channels: 1,
            event_capacity: 4096,
        }
    }
}

/// Which capacity an object's size follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    Sessions,
    Pdrs,
    Fars,
    Qers,
    Urrs,
    NextHops,
    EventCapacity,
    /// A fixed number.
    One,
}

impl Basis {
    pub fn name(self) -> &'static str {
        match self {
            Basis::Sessions => "sessions",
            Basis::Pdrs => "pdrs",
            Basis::Fars => "fars",
            Basis::Qers => "qers",
            Basis::Urrs => "urrs",
            Basis::NextHops => "next_hops",
            Basis::EventCapacity => "event_capacity",
            Basis::One => "one",
        }
    }

    fn of(self, caps: &Capacities) -> u64 {
        u64::from(match self {
            Basis::Sessions => caps.sessions,
            Basis::Pdrs => caps.pdrs,
            Basis::Fars => caps.fars,
            Basis::Qers => caps.qers,
            Basis::Urrs => caps.urrs,
            Basis::NextHops => caps.next_hops,
            Basis::EventCapacity => caps.event_capacity,
            Basis::One => 1,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Key and value sizes.
    Table { key: usize, value: usize },
    /// Message size; `per_thread`: one channel `NAME.N` per event channel.
    Channel { message: usize, per_thread: bool },
    /// Words per cell.
    Cells { words: usize },
}

/// One object of the region: capacity = basis × times + plus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object {
    pub name: &'static str,
    pub kind: Kind,
    pub basis: Basis,
    pub times: u64,
    pub plus: u64,
}

impl Object {
    pub fn capacity(&self, caps: &Capacities) -> u64 {
        self.basis.of(caps) * self.times + self.plus
    }
}

const fn table<K, V>(name: &'static str, basis: Basis, times: u64, plus: usize) -> Object {
    Object {
        name,
        kind: Kind::Table {
            key: std::mem::size_of::<K>(),
            value: std::mem::size_of::<V>(),
        },
        basis,
        times,
        plus: plus as u64,
    }
}

pub const SESSIONS: &str = "sessions";
pub const PDR_INDEX: &str = "pdr_index";
pub const PDRS: &str = "pdrs";
pub const FARS: &str = "fars";
pub const QERS: &str = "qers";
pub const URRS: &str = "urrs";
pub const NEXT_HOPS: &str = "next_hops";
pub const EVENTS: &str = "events";
pub const END_MARKERS: &str = "end_markers";
pub const SESSION_STATE: &str = "session_state";
pub const QER_STATE: &str = "qer_state";
pub const URR_STATE: &str = "urr_state";

/// End markers the channel holds before the writer's sends fail.
pub const END_MARKER_CAPACITY: u64 = 256;

/// The region's objects in their order: tables, channels, then cells (the order the TypeScript
/// binding declares them in). Tables of rules hold one session's worth more than their
/// capacity: a modification writes a session's next generation before it removes the last one.
/// A PDR has up to two keys (a dual-stack UE's IPv4 address and IPv6 prefix).
pub const OBJECTS: &[Object] = &[
    table::<RuleKey, SessionRecord>(SESSIONS, Basis::Sessions, 1, 1),
    table::<MatchKey, MatchRecord>(PDR_INDEX, Basis::Pdrs, 2, 2 * MAX_PDR_PER_SESSION),
    table::<RuleKey, PdrRecord>(PDRS, Basis::Pdrs, 1, MAX_PDR_PER_SESSION),
    table::<RuleKey, FarRecord>(FARS, Basis::Fars, 1, MAX_FAR_PER_SESSION),
    table::<RuleKey, QerRecord>(QERS, Basis::Qers, 1, MAX_QER_PER_SESSION),
    table::<RuleKey, UrrRecord>(URRS, Basis::Urrs, 1, MAX_URR_PER_SESSION),
    table::<NextHopKey, NextHopRecord>(NEXT_HOPS, Basis::NextHops, 1, 0),
    Object {
        name: EVENTS,
        kind: Kind::Channel {
            message: std::mem::size_of::<EventRecord>(),
            per_thread: true,
        },
        basis: Basis::EventCapacity,
        times: 1,
        plus: 0,
    },
    Object {
        name: END_MARKERS,
        kind: Kind::Channel {
            message: std::mem::size_of::<EndMarkerRecord>(),
            per_thread: false,
        },
        basis: Basis::One,
        times: END_MARKER_CAPACITY,
        plus: 0,
    },
    Object {
        name: SESSION_STATE,
        kind: Kind::Cells {
            words: SESSION_STATE_WORDS,
        },
        basis: Basis::Sessions,
        times: 1,
        plus: 0,
    },
    Object {
        name: QER_STATE,
        kind: Kind::Cells {
            words: QER_STATE_WORDS,
        },
        basis: Basis::Qers,
        times: 1,
        plus: MAX_QER_PER_SESSION as u64,
    },
    Object {
        name: URR_STATE,
        kind: Kind::Cells {
            words: URR_STATE_WORDS,
        },
        basis: Basis::Urrs,
        times: 1,
        plus: MAX_URR_PER_SESSION as u64,
    },
];

/// Channel `events.N`.
pub fn events_channel(n: u32) -> String {
    format!("{EVENTS}.{n}")
}

/// The region's layout for `caps`.
pub fn layout(caps: &Capacities) -> Layout {
    let mut layout = Layout::new();
    for object in OBJECTS {
        let capacity = object.capacity(caps);
        layout = match object.kind {
            Kind::Table { key, value } => layout.table(object.name, key, value, capacity),
            Kind::Channel {
                message,
                per_thread: true,
            } => (0..caps.event_channels).fold(layout, |layout, n| {
                layout.channel(&events_channel(n), message, capacity)
            }),
            Kind::Channel { message, .. } => layout.channel(object.name, message, capacity),
            Kind::Cells { words } => layout.cells(object.name, words, capacity),
        };
    }
    layout
}
