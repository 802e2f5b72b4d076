//! The UPF's sessions in shared memory (see the crate's README section in `lib.rs` docs below).
//!
//! # Tables
//! The slow path (the TypeScript `UpfSessions`) is the one writer of every table; the fast path
//! reads them without waiting. Rules are records of one *generation* of one session, keyed by
//! [`RuleKey`] (session slot, generation, rule id) and never changed once written:
//! - `sessions`: [`SessionRecord`] (SEID, BAR, rule counts), id 0;
//! - `pdrs`: [`PdrRecord`], whose head [`PdrHot`] carries a copy of its FAR's action, its QERs
//!   and its URRs' limits, so that one probe gives the fast path all it needs;
//! - `fars`, `qers`, `urrs`: [`FarRecord`], [`QerRecord`], [`UrrRecord`] as the control plane
//!   gave them (read back by a restarted writer and by `get`);
//! - `pdr_index`: [`MatchKey`] (uplink TEID, UE IPv4 address, UE IPv6 /64) → [`MatchRecord`]:
//!   the session's slot and, for each of the two generations it may be between, the first PDR of
//!   the key's chain in precedence order (`PdrHot::next` links the rest);
//! - `next_hops`: [`NextHopKey`] → [`NextHopRecord`] (MAC, port, state) from the kernel.
//!
//! Mutable state lives in cells that every fast-path thread updates atomically: `urr_state`
//! (exact packet and byte counts per direction), `qer_state` (one GCRA token bucket word per
//! direction), `session_state` (the published generation, below). Events go to the slow path
//! on the `events.N` channels (one producer each: one per fast-path thread); End Marker
//! requests come from it on `end_markers`.
//!
//! # One flip per change
//! A session lives in a slot, whose `session_state` cell holds `SESSION_LIVE | generation`. To
//! change a session from generation g, the writer writes every record of g + 1 under new keys
//! (unchanged rules are copied), rewrites each `pdr_index` record of the session with
//! `heads[(g + 1) & 1]` (leaving `heads[g & 1]` as it was), and then stores g + 1 in the cell with
//! Release: that one store publishes the whole change. Afterwards it removes g's records and
//! the index records no generation uses. Deleting a session clears `SESSION_LIVE` first.
//!
//! A reader finds the key's [`MatchRecord`], loads the cell (Acquire), takes the head of that
//! generation, and reads the PDRs of exactly that generation; a record it finds is whole (each
//! table's seqlock) and of one generation, so a packet never sees part of a change. When the
//! head is of another generation, or the generation's PDRs are already gone, it reads the cell
//! and index again (bounded: [`reader`]'s tries); it never waits for the writer. A writer killed
//! mid-change leaves the published generation untouched: the next writer finds it (the cell's
//! generation names its records) and removes what the dead one left of the next.
//!
//! Records are plain `repr(C)` structs with asserted sizes and offsets ([`RECORDS`]), printed for
//! TypeScript by `examples/layout.rs`, so that another reader, such as an in-kernel XDP tier,
//! can use them as they are.

mod check;
mod layout;
mod reader;
mod records;
mod writer;

pub use check::*;
pub use layout::*;
pub use reader::*;
pub use records::*;
pub use writer::*;
