//! The UPF's sessions in shared memory: the records of PFCP's rules, how a writer publishes a
//! session's change all at once, and the fast path's lookup, counters, rate limiters and events
//! over them ([`UpfTables`]). The slow path's writer is the TypeScript `ShmUpfSessions`
//! (apps/upf/src/sessions); [`Writer`] is the same protocol in Rust, for tests and benchmarks.
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
//! and index again (a bounded number of tries); it never waits for the writer. A writer killed
//! mid-change leaves the published generation untouched: the next writer finds it (the cell's
//! generation names its records) and removes what the dead one left of the next.
//!
//! # Per packet
//! [`UpfTables::uplink`] / [`UpfTables::downlink`] (or [`UpfTables::lookup_batch`], which
//! prefetches each stage for a whole batch and reads the PDR's head into the reused result) give
//! the matched PDR's head, [`PdrHot`]: its FAR's action and tunnel, its QERs and URR limits
//! ([`UpfTables::prefetch_state`] starts loading their cells). [`UpfTables::admit`] then applies
//! the gates, the URR quotas, the MBRs (one GCRA word per QER and direction, shared by every
//! thread, so the rate holds however the session's packets are spread) and counts the packet exactly
//! (`fetch_add` on the URR's cell); the thread whose packet reaches a threshold or quota first in
//! its epoch raises the event, once. [`UpfTables::notify_downlink_data`] raises `downlink-data`
//! once per session generation; [`EventSender::error_indication`] reports a peer's Error
//! Indication. Each fast-path thread sends on its own `events.N` channel.
//!
//! A URR's or QER's cell stays with the rule across generations; a freed cell is zeroed when it is
//! taken again, oldest first, so that a thread still counting a packet of a deleted session does
//! not count into a new one.
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
