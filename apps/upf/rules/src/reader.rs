//! The fast path's side: find the PDR of a packet, apply its QERs and URRs, raise events. Never
//! waits for the writer, never allocates; one hash probe finds the key's session, one more per
//! PDR tried finds the PDR (the first one tried matches unless SDF filters or QFIs tell a key's
//! PDRs apart).

use std::sync::atomic::{AtomicU64, Ordering};

use fastlane_shm::{Cells, Channel, Region, ShmError, Table};

use crate::layout::{self, Capacities};
use crate::records::*;

/// A reader that keeps meeting a changed generation gives up the packet after this many tries
/// (a writer publishes a generation in microseconds; this is a bound, not a wait).
const TRIES: usize = 8;

/// Tolerance of the MBR token buckets: bursts of up to this much time at the rate pass.
pub const MBR_BURST_NS: u64 = 10_000_000;

/// The inner packet's addresses and ports, as the fast path parsed them. IPv4 addresses are in
/// the first 4 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flow {
    pub ipv6: bool,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub protocol: u8,
    /// Source and destination ports (TCP, UDP, SCTP); None for other protocols.
    pub ports: Option<(u16, u16)>,
}

impl Flow {
    pub fn ipv4(src: [u8; 4], dst: [u8; 4], protocol: u8, ports: Option<(u16, u16)>) -> Self {
        let mut flow = Flow {
            ipv6: false,
            protocol,
            ports,
            ..Flow::default()
        };
        flow.src[..4].copy_from_slice(&src);
        flow.dst[..4].copy_from_slice(&dst);
        flow
    }

    pub fn ipv6(src: [u8; 16], dst: [u8; 16], protocol: u8, ports: Option<(u16, u16)>) -> Self {
        Flow {
            ipv6: true,
            src,
            dst,
            protocol,
            ports,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// N3 → N6: the packet's source is the UE.
    Uplink,
    /// N6 → N3: the packet's destination is the UE.
    Downlink,
}

/// Packets looked up together by `lookup_batch` at most.
pub const BATCH: usize = 32;

/// One packet of a batch lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// As `UpfTables::uplink`.
    Uplink {
        teid: u32,
        qfi: Option<u8>,
        flow: Flow,
    },
    /// As `UpfTables::downlink`.
    Downlink { flow: Flow },
}

impl Query {
    fn key(&self) -> MatchKey {
        match self {
            Query::Uplink { teid, .. } => MatchKey::teid(*teid),
            Query::Downlink { flow } => downlink_key(flow),
        }
    }
}

/// The key a downlink packet is found by: its destination, the UE.
fn downlink_key(flow: &Flow) -> MatchKey {
    if flow.ipv6 {
        MatchKey::ue_ipv6(&flow.dst)
    } else {
        MatchKey::ue_ipv4([flow.dst[0], flow.dst[1], flow.dst[2], flow.dst[3]])
    }
}

/// What a lookup found.
// Returned by value on the per-packet path, where boxing would allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// No session has this TEID or UE address (uplink: answer with an Error Indication).
    Unknown,
    /// The session exists but none of its PDRs for the key matches the packet.
    NoPdr {
        seid: u64,
    },
    Pdr(Matched),
}

/// The PDR that matched a packet, as of one published generation of its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    pub slot: u32,
    pub generation: u32,
    /// The PDR's head: its FAR's action (`pdr.far`), QERs and URR limits.
    pub pdr: PdrHot,
}

/// What `admit` decided for a packet of a matched PDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Counted: go on with the FAR.
    Pass,
    /// A QER's gate for the direction is closed.
    GateClosed { qer_id: u32 },
    /// Over a QER's MBR.
    RateLimited { qer_id: u32 },
    /// A URR's volume quota is used up.
    QuotaExhausted { urr_id: u32 },
}

/// The UPF's tables as the fast path reads them. `&self` everywhere: share one between threads.
#[derive(Debug)]
pub struct UpfTables {
    pdr_index: Table,
    pdrs: Table,
    next_hops: Table,
    session_state: Cells,
    qer_state: Cells,
    urr_state: Cells,
    region: Region,
}

/// Loads `N` bytes at byte `offset` of `words` (relaxed loads of the words covering them).
#[inline]
fn bytes_at<const N: usize>(words: &[AtomicU64], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    let first = offset / 8;
    let last = (offset + N).div_ceil(8);
    let mut buffer = [0u8; 32];
    for (i, word) in words.iter().take(last).skip(first).enumerate() {
        buffer[i * 8..i * 8 + 8].copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
    }
    let start = offset % 8;
    out.copy_from_slice(&buffer[start..start + N]);
    out
}

/// Copies the record at byte `offset` (8-aligned) of `words` into `out`, word by word, only the
/// first `len` bytes (a multiple of 8).
#[inline]
fn copy_words<R: Record>(words: &[AtomicU64], offset: usize, len: usize, out: &mut R) {
    let out = out.as_words_mut();
    let n = (len / 8).min(out.len());
    for (dst, src) in out[..n].iter_mut().zip(&words[offset / 8..]) {
        *dst = src.load(Ordering::Relaxed);
    }
}

/// Whether `addr` is in `prefix`/`len` (`len` clamped to the family's width).
#[inline]
pub fn in_prefix(addr: &[u8], prefix: &[u8], len: u8) -> bool {
    let len = usize::from(len).min(addr.len() * 8);
    let whole = len / 8;
    if addr[..whole] != prefix[..whole] {
        return false;
    }
    let rest = len % 8;
    rest == 0 || (addr[whole] ^ prefix[whole]) & (0xffu8 << (8 - rest)) == 0
}

/// Whether SDF filter `sdf` matches `flow`, whose UE end is `ue` and remote end `remote`.
pub fn sdf_matches(sdf: &SdfRecord, flow: &Flow, direction: Direction) -> bool {
    let width = if flow.ipv6 { 16 } else { 4 };
    let (ue, remote) = match direction {
        Direction::Uplink => (&flow.src, &flow.dst),
        Direction::Downlink => (&flow.dst, &flow.src),
    };
    let family_ok = sdf.flags & (SDF_UE_PREFIX | SDF_REMOTE_PREFIX) == 0
        || (sdf.flags & SDF_IPV6 != 0) == flow.ipv6;
    if !family_ok {
        return false;
    }
    if sdf.flags & SDF_PROTOCOL != 0 && sdf.protocol != flow.protocol {
        return false;
    }
    if sdf.flags & SDF_UE_PREFIX != 0
        && !in_prefix(&ue[..width], &sdf.ue_addr[..width], sdf.ue_prefix_len)
    {
        return false;
    }
    if sdf.flags & SDF_REMOTE_PREFIX != 0
        && !in_prefix(
            &remote[..width],
            &sdf.remote_addr[..width],
            sdf.remote_prefix_len,
        )
    {
        return false;
    }
    if sdf.flags & (SDF_UE_PORTS | SDF_REMOTE_PORTS) != 0 {
        let Some((src_port, dst_port)) = flow.ports else {
            return false;
        };
        let (ue_port, remote_port) = match direction {
            Direction::Uplink => (src_port, dst_port),
            Direction::Downlink => (dst_port, src_port),
        };
        let within = |port: u16, range: [u16; 2]| range[0] <= port && port <= range[1];
        if sdf.flags & SDF_UE_PORTS != 0 && !within(ue_port, sdf.ue_ports) {
            return false;
        }
        if sdf.flags & SDF_REMOTE_PORTS != 0 && !within(remote_port, sdf.remote_ports) {
            return false;
        }
    }
    true
}

const HOT: usize = std::mem::size_of::<PdrHot>();
const SDF_OFFSET: usize = std::mem::offset_of!(PdrRecord, sdf);
const SDF_SIZE: usize = std::mem::size_of::<SdfRecord>();
const UE_IPV4_OFFSET: usize = std::mem::offset_of!(PdrRecord, ue_ipv4);
const UE_IPV6_OFFSET: usize = std::mem::offset_of!(PdrRecord, ue_ipv6);
const URRS_OFFSET: usize = std::mem::offset_of!(PdrHot, urrs);
const QERS_OFFSET: usize = std::mem::offset_of!(PdrHot, qers);
const QER_SIZE: usize = std::mem::size_of::<QerRecord>();
const URR_LIMITS_SIZE: usize = std::mem::size_of::<UrrLimits>();
const HEAD: usize = std::mem::offset_of!(PdrHot, far) + std::mem::size_of::<FarAction>();

/// What one PDR said about a packet.
enum Step {
    /// It matches: its head is in the caller's buffer.
    Matched,
    Next(u32),
}

/// Tests the PDR whose value is `words` against the packet; its head is in `hot` when it matches
/// (`hot` is written over either way).
#[inline]
fn try_pdr(
    words: &[AtomicU64],
    chain: usize,
    qfi: Option<u8>,
    flow: &Flow,
    direction: Direction,
    hot: &mut PdrHot,
) -> Step {
    copy_words(words, 0, HEAD, hot);
    let next = hot.next[chain.min(1)];
    // A QFI in the PDI is the PDU Session Container's: only G-PDUs (uplink) carry one.
    if direction == Direction::Uplink && hot.flags & PDR_HAS_QFI != 0 && qfi != Some(hot.qfi) {
        return Step::Next(next);
    }
    // An uplink PDR that names the UE's address takes only packets from it.
    if direction == Direction::Uplink {
        if flow.ipv6 && hot.flags & PDR_UE_IPV6 != 0 {
            let prefix: [u8; 16] = bytes_at(words, UE_IPV6_OFFSET);
            if !in_prefix(&flow.src, &prefix, hot.ue_ipv6_prefix_len) {
                return Step::Next(next);
            }
        } else if !flow.ipv6 && hot.flags & PDR_UE_IPV4 != 0 {
            let addr: [u8; 4] = bytes_at(words, UE_IPV4_OFFSET);
            if flow.src[..4] != addr {
                return Step::Next(next);
            }
        } else if hot.flags & (PDR_UE_IPV4 | PDR_UE_IPV6) != 0 {
            return Step::Next(next);
        }
    } else if flow.ipv6 && hot.ue_ipv6_prefix_len > 64 {
        // The index found the /64; a longer prefix is checked here.
        let prefix: [u8; 16] = bytes_at(words, UE_IPV6_OFFSET);
        if !in_prefix(&flow.dst, &prefix, hot.ue_ipv6_prefix_len) {
            return Step::Next(next);
        }
    }
    let sdf_count = usize::from(hot.sdf_count).min(MAX_SDF_PER_PDR);
    if sdf_count > 0 {
        let mut sdf = SdfRecord::zeroed();
        let any = (0..sdf_count).any(|i| {
            copy_words(words, SDF_OFFSET + i * SDF_SIZE, SDF_SIZE, &mut sdf);
            sdf_matches(&sdf, flow, direction)
        });
        if !any {
            return Step::Next(next);
        }
    }
    // The rest of the head: the QERs and URRs it uses.
    let end = match (hot.urr_count, hot.qer_count) {
        (0, 0) => HEAD,
        (0, q) => QERS_OFFSET + usize::from(q).min(MAX_QER_PER_PDR) * QER_SIZE,
        (u, _) => URRS_OFFSET + usize::from(u).min(MAX_URR_PER_PDR) * URR_LIMITS_SIZE,
    };
    let end = end.min(HOT) / 8;
    let out = hot.as_words_mut();
    for (dst, src) in out[HEAD / 8..end].iter_mut().zip(&words[HEAD / 8..]) {
        *dst = src.load(Ordering::Relaxed);
    }
    // What a PDR tried before left past this one's QERs and URRs.
    out[end..].fill(0);
    Step::Matched
}

/// `out`'s match, for a PDR's head to be read into: `out` is made a `Lookup::Pdr` first if it
/// is another variant (its head is written over either way).
#[inline]
fn matched_in(out: &mut Lookup) -> &mut Matched {
    if !matches!(out, Lookup::Pdr(_)) {
        *out = Lookup::Pdr(Matched {
            slot: 0,
            generation: 0,
            pdr: PdrHot::zeroed(),
        });
    }
    match out {
        Lookup::Pdr(matched) => matched,
        // Made a `Lookup::Pdr` just above.
        _ => unreachable!(),
    }
}

impl UpfTables {
    /// Attaches to region `name`, laid out for `caps` (the same capacities as its writer's).
    pub fn open(name: &str, caps: &Capacities) -> Result<Self, ShmError> {
        UpfTables::from_region(Region::open(name, &layout::layout(caps))?)
    }

    /// Takes the UPF's objects from `region` (which has the UPF's layout).
    pub fn from_region(region: Region) -> Result<Self, ShmError> {
        Ok(UpfTables {
            pdr_index: region.table(layout::PDR_INDEX)?,
            pdrs: region.table(layout::PDRS)?,
            next_hops: region.table(layout::NEXT_HOPS)?,
            session_state: region.cells(layout::SESSION_STATE)?,
            qer_state: region.cells(layout::QER_STATE)?,
            urr_state: region.cells(layout::URR_STATE)?,
            region,
        })
    }

    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The PDR of an uplink G-PDU: by its TEID and its PDU Session Container's QFI (if any), then
    /// by precedence among the PDRs whose SDF filters match the inner packet `flow`.
    #[inline]
    pub fn uplink(&self, teid: u32, qfi: Option<u8>, flow: &Flow) -> Lookup {
        self.find(&MatchKey::teid(teid), qfi, flow, Direction::Uplink)
    }

    /// The PDR of a downlink packet: by its destination (the UE's IPv4 address or IPv6 prefix),
    /// then by precedence among the PDRs whose SDF filters match.
    #[inline]
    pub fn downlink(&self, flow: &Flow) -> Lookup {
        self.find(&downlink_key(flow), None, flow, Direction::Downlink)
    }

    /// Looks up a batch of packets, with the same results as one by one, but each stage's
    /// memory loads for every packet are started before the first is needed (the index slots,
    /// then the sessions' cells, then the PDRs), so that their cache misses overlap. `out[i]`
    /// is the lookup of `queries[i]` (as far as `out` reaches).
    pub fn lookup_batch(&self, queries: &[Query], out: &mut [Lookup]) {
        for (queries, out) in queries.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            let mut keys = [MatchKey::teid(0); BATCH];
            for (key, query) in keys.iter_mut().zip(queries) {
                *key = query.key();
                self.pdr_index
                    .prefetch(key.as_bytes(), std::mem::size_of::<MatchRecord>());
            }
            let mut index = [None; BATCH];
            for (record, key) in index.iter_mut().zip(&keys).take(queries.len()) {
                *record = self.read_index(key);
                if let Some(r) = record {
                    self.session_state.prefetch(u64::from(r.slot));
                }
            }
            for record in index.iter().take(queries.len()).flatten() {
                if let Some(generation) = self.committed(record.slot) {
                    let head = record.heads[(generation & 1) as usize];
                    if head.generation == generation && head.first != NONE {
                        let pdr = RuleKey::new(record.slot, generation, head.first);
                        self.pdrs.prefetch(pdr.as_bytes(), HOT);
                    }
                }
            }
            for ((out, query), (key, record)) in
                out.iter_mut().zip(queries).zip(keys.iter().zip(index))
            {
                match (record, query) {
                    (None, _) => *out = Lookup::Unknown,
                    (Some(r), Query::Uplink { qfi, flow, .. }) => {
                        self.resolve(key, r, *qfi, flow, Direction::Uplink, out)
                    }
                    (Some(r), Query::Downlink { flow }) => {
                        self.resolve(key, r, None, flow, Direction::Downlink, out)
                    }
                }
            }
        }
    }

    /// Starts fetching the counters and token buckets that `admit` will update for `matched`
    /// (its URRs' and QERs' cells): for a batch, after `lookup_batch` and before the first
    /// `admit`, so that these cache misses overlap too. A hint only.
    #[inline]
    pub fn prefetch_state(&self, matched: &Matched) {
        for urr in matched.pdr.urrs() {
            self.urr_state.prefetch(u64::from(urr.cell));
        }
        for qer in matched.pdr.qers() {
            if qer.flags & QER_HAS_MBR != 0 {
                self.qer_state.prefetch(u64::from(qer.cell));
            }
        }
    }

    /// The published generation of slot `slot` (None: no live session there).
    #[inline]
    fn committed(&self, slot: u32) -> Option<u32> {
        let word = self
            .session_state
            .cell(u64::from(slot))?
            .get(SESSION_COMMITTED)?
            .load(Ordering::Acquire);
        (word & SESSION_LIVE != 0).then_some(word as u32)
    }

    fn find(&self, key: &MatchKey, qfi: Option<u8>, flow: &Flow, direction: Direction) -> Lookup {
        let mut out = Lookup::Unknown;
        if let Some(index) = self.read_index(key) {
            self.resolve(key, index, qfi, flow, direction, &mut out);
        }
        out
    }

    fn read_index(&self, key: &MatchKey) -> Option<MatchRecord> {
        let mut index = MatchRecord::zeroed();
        self.pdr_index.read_with(key.as_bytes(), |words| {
            copy_words(words, 0, std::mem::size_of::<MatchRecord>(), &mut index)
        })?;
        Some(index)
    }

    /// The lookup of `key`, whose index record is `index`, into `out`. A PDR's head is read
    /// straight into `out` (made a `Lookup::Pdr` if it is not one yet), never copied after: a
    /// batch's results are reused from batch to batch.
    fn resolve(
        &self,
        key: &MatchKey,
        mut index: MatchRecord,
        qfi: Option<u8>,
        flow: &Flow,
        direction: Direction,
        out: &mut Lookup,
    ) {
        let chain = key.chain();
        // The generation at which the index was last read again.
        let mut reread_at = None;
        for _ in 0..TRIES {
            let Some(generation) = self.committed(index.slot) else {
                *out = Lookup::Unknown;
                return;
            };
            let head = index.heads[(generation & 1) as usize];
            if head.generation != generation {
                // Either the key is not in this generation, or the copy of the index is older
                // than the cell: a copy read after the cell settles it.
                if reread_at == Some(generation) || !self.reread(key, &mut index) {
                    *out = Lookup::Unknown;
                    return;
                }
                reread_at = Some(generation);
                continue;
            }
            let mut id = head.first;
            let mut steps = 0;
            loop {
                if id == NONE || steps == MAX_PDR_PER_SESSION {
                    *out = Lookup::NoPdr { seid: index.seid };
                    return;
                }
                steps += 1;
                let pdr_key = RuleKey::new(index.slot, generation, id);
                let matched = matched_in(out);
                match self.pdrs.read_with(pdr_key.as_bytes(), |words| {
                    try_pdr(words, chain, qfi, flow, direction, &mut matched.pdr)
                }) {
                    Some(Step::Matched) => {
                        matched.slot = index.slot;
                        matched.generation = generation;
                        return;
                    }
                    Some(Step::Next(next)) => id = next,
                    // The writer published a newer generation and removed this one.
                    None => break,
                }
            }
            if !self.reread(key, &mut index) {
                *out = Lookup::Unknown;
                return;
            }
            reread_at = None;
        }
        // Changed faster than it could be read, TRIES times over: drop rather than answer
        // the peer that the tunnel is unknown.
        *out = Lookup::NoPdr { seid: index.seid };
    }

    fn reread(&self, key: &MatchKey, index: &mut MatchRecord) -> bool {
        self.pdr_index
            .read_with(key.as_bytes(), |words| {
                copy_words(words, 0, std::mem::size_of::<MatchRecord>(), index)
            })
            .is_some()
    }

    /// Applies `matched`'s QERs (gate, then MBR) and URRs (quota, then counting `bytes`, the IP
    /// packet without any outer GTP-U/UDP/IP header) to one packet at `now_ns`
    /// (CLOCK_MONOTONIC, the same clock on every thread). Raises volume events on `events`.
    #[inline]
    pub fn admit(
        &self,
        matched: &Matched,
        direction: Direction,
        bytes: u32,
        now_ns: u64,
        events: &mut EventSender,
    ) -> Admission {
        let pdr = &matched.pdr;
        let closed = match direction {
            Direction::Uplink => GATE_UPLINK_CLOSED,
            Direction::Downlink => GATE_DOWNLINK_CLOSED,
        };
        for qer in pdr.qers() {
            if qer.flags & QER_HAS_GATE != 0 && qer.gate & closed != 0 {
                return Admission::GateClosed { qer_id: qer.qer_id };
            }
        }
        for urr in pdr.urrs() {
            if urr.flags & LIMIT_QUOTA != 0 {
                if let Some(cell) = self.urr_state.cell(u64::from(urr.cell)) {
                    if quota_used_up(urr, cell) {
                        return Admission::QuotaExhausted { urr_id: urr.urr_id };
                    }
                }
            }
        }
        for qer in pdr.qers() {
            if qer.flags & QER_HAS_MBR == 0 {
                continue;
            }
            let (kbps, word) = match direction {
                Direction::Uplink => (qer.mbr_uplink_kbps, QER_UPLINK_TAT),
                Direction::Downlink => (qer.mbr_downlink_kbps, QER_DOWNLINK_TAT),
            };
            let Some(tat) = self.qer_state.cell(u64::from(qer.cell)).map(|c| &c[word]) else {
                continue;
            };
            if kbps != 0 && !take_tokens(tat, kbps, bytes, now_ns) {
                return Admission::RateLimited { qer_id: qer.qer_id };
            }
        }
        for urr in pdr.urrs() {
            if let Some(cell) = self.urr_state.cell(u64::from(urr.cell)) {
                count(urr, cell, direction, bytes, pdr.seid, events);
            }
        }
        Admission::Pass
    }

    /// Marks the first downlink packet of `matched`'s session generation met at a FAR that
    /// buffers or notifies the CP: true (and a `downlink-data` event raised) for that packet
    /// only, until the session's next generation.
    pub fn notify_downlink_data(&self, matched: &Matched, events: &mut EventSender) -> bool {
        let Some(word) = self
            .session_state
            .cell(u64::from(matched.slot))
            .map(|cell| &cell[SESSION_NOTIFIED])
        else {
            return false;
        };
        let mark = u64::from(matched.generation) + 1;
        if word.swap(mark, Ordering::Relaxed) == mark {
            return false;
        }
        let pdr = &matched.pdr;
        events.send(&EventRecord {
            kind: EVENT_DOWNLINK_DATA,
            flags: if pdr.flags & PDR_HAS_QFI != 0
                || pdr.qers().iter().any(|q| q.flags & QER_HAS_QFI != 0)
            {
                EVENT_HAS_QFI
            } else {
                0
            },
            qfi: pdr
                .qers()
                .iter()
                .find(|q| q.flags & QER_HAS_QFI != 0)
                .map_or(pdr.qfi, |q| q.qfi),
            _pad: 0,
            id: u32::from(pdr.pdr_id),
            seid: pdr.seid,
            remote: OuterHeader::default(),
            _pad2: 0,
        });
        true
    }

    /// The neighbour to send to `key`'s address, as the kernel last resolved it.
    #[inline]
    pub fn next_hop(&self, key: &NextHopKey) -> Option<NextHopRecord> {
        let mut record = NextHopRecord::zeroed();
        self.next_hops.read_with(key.as_bytes(), |words| {
            copy_words(words, 0, std::mem::size_of::<NextHopRecord>(), &mut record)
        })?;
        Some(record)
    }

    /// The producer end of channel `events.N` (one per fast-path thread).
    pub fn events(&self, n: u32) -> Result<EventSender, ShmError> {
        Ok(EventSender {
            channel: self.region.channel(&layout::events_channel(n))?,
        })
    }

    /// The consumer end of channel `end_markers` (one fast-path thread takes it).
    pub fn end_markers(&self) -> Result<EndMarkers, ShmError> {
        Ok(EndMarkers {
            channel: self.region.channel(layout::END_MARKERS)?,
        })
    }
}

/// The volume `which` (TOTAL, UPLINK, DOWNLINK) counted in `cell`.
#[inline]
fn volume(cell: &[AtomicU64], which: usize) -> u64 {
    let up = || cell[URR_UPLINK_BYTES].load(Ordering::Relaxed);
    let down = || cell[URR_DOWNLINK_BYTES].load(Ordering::Relaxed);
    match which {
        UPLINK => up(),
        DOWNLINK => down(),
        _ => up().wrapping_add(down()),
    }
}

/// The limit bits (TOTAL, UPLINK, DOWNLINK order) within a threshold or quota mask.
const THRESHOLD_BITS: [u8; 3] = [
    LIMIT_THRESHOLD_TOTAL,
    LIMIT_THRESHOLD_UPLINK,
    LIMIT_THRESHOLD_DOWNLINK,
];
const QUOTA_BITS: [u8; 3] = [LIMIT_QUOTA_TOTAL, LIMIT_QUOTA_UPLINK, LIMIT_QUOTA_DOWNLINK];

/// Whether any quota of `urr` is reached in `cell`.
#[inline]
pub fn quota_used_up(urr: &UrrLimits, cell: &[AtomicU64]) -> bool {
    (0..3).any(|i| urr.flags & QUOTA_BITS[i] != 0 && volume(cell, i) >= urr.quota_at[i])
}

/// Whether any threshold of `urr` is reached in `cell`.
#[inline]
pub fn threshold_reached(urr: &UrrLimits, cell: &[AtomicU64]) -> bool {
    (0..3).any(|i| urr.flags & THRESHOLD_BITS[i] != 0 && volume(cell, i) >= urr.threshold_at[i])
}

/// Counts a packet into a URR's cell; the thread whose packet reaches a limit first (in the
/// limits' epoch) raises its event.
#[inline]
fn count(
    urr: &UrrLimits,
    cell: &[AtomicU64],
    direction: Direction,
    bytes: u32,
    seid: u64,
    events: &mut EventSender,
) {
    let (packets, volume) = match direction {
        Direction::Uplink => (URR_UPLINK_PACKETS, URR_UPLINK_BYTES),
        Direction::Downlink => (URR_DOWNLINK_PACKETS, URR_DOWNLINK_BYTES),
    };
    cell[packets].fetch_add(1, Ordering::Relaxed);
    cell[volume].fetch_add(u64::from(bytes), Ordering::Relaxed);
    if urr.flags == 0 {
        return;
    }
    if urr.flags & LIMIT_THRESHOLD != 0
        && threshold_reached(urr, cell)
        && first_report(&cell[URR_REPORTED], urr.threshold_epoch, 0)
    {
        events.volume(EVENT_VOLUME_THRESHOLD, seid, urr.urr_id);
    }
    if urr.flags & LIMIT_QUOTA != 0
        && quota_used_up(urr, cell)
        && first_report(&cell[URR_REPORTED], urr.quota_epoch, 32)
    {
        events.volume(EVENT_VOLUME_QUOTA, seid, urr.urr_id);
    }
}

/// Marks `epoch` reported in the half of a URR's reported word at `shift`; true for the one
/// caller that marked it.
fn first_report(word: &AtomicU64, epoch: u32, shift: u32) -> bool {
    let mask = 0xffff_ffffu64 << shift;
    let mark = u64::from(epoch) << shift;
    let mut current = word.load(Ordering::Relaxed);
    loop {
        if current & mask == mark {
            return false;
        }
        match word.compare_exchange_weak(
            current,
            (current & !mask) | mark,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(seen) => current = seen,
        }
    }
}

/// A GCRA token bucket in one word (the theoretical arrival time, ns): a packet of `bytes`
/// conforms when it would not start more than MBR_BURST_NS ahead of `now_ns`. Every thread
/// updates the same word, so the rate holds however a session's packets are spread.
#[inline]
pub fn take_tokens(tat: &AtomicU64, kbps: u64, bytes: u32, now_ns: u64) -> bool {
    // ns for `bytes` at `kbps`: bytes × 8 bits × 10^6 / kbps.
    let cost = (u128::from(bytes) * 8_000_000 / u128::from(kbps.max(1)))
        .min(u128::from(u64::MAX / 4)) as u64;
    let mut current = tat.load(Ordering::Relaxed);
    loop {
        let start = current.max(now_ns);
        if start > now_ns.saturating_add(MBR_BURST_NS) {
            return false;
        }
        match tat.compare_exchange_weak(
            current,
            start.saturating_add(cost),
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(seen) => current = seen,
        }
    }
}

/// The producer end of one `events.N` channel. Events are dropped (and counted by the channel)
/// when the control plane falls behind.
#[derive(Debug)]
pub struct EventSender {
    channel: Channel,
}

impl EventSender {
    /// Queues `event`; false when the channel was full (or another thread holds this channel).
    pub fn send(&mut self, event: &EventRecord) -> bool {
        self.channel.send(event.as_bytes()).unwrap_or(false)
    }

    fn volume(&mut self, kind: u8, seid: u64, urr_id: u32) -> bool {
        self.send(&EventRecord {
            kind,
            flags: 0,
            qfi: 0,
            _pad: 0,
            id: urr_id,
            seid,
            remote: OuterHeader::default(),
            _pad2: 0,
        })
    }

    /// A GTP-U Error Indication came from the peer at `remote` (its TEID and address).
    pub fn error_indication(&mut self, remote: &OuterHeader) -> bool {
        self.send(&EventRecord {
            kind: EVENT_ERROR_INDICATION,
            flags: 0,
            qfi: 0,
            _pad: 0,
            id: 0,
            seid: 0,
            remote: *remote,
            _pad2: 0,
        })
    }

    /// Events dropped because the channel was full.
    pub fn drops(&self) -> u64 {
        self.channel.drops()
    }
}

/// The consumer end of channel `end_markers`.
#[derive(Debug)]
pub struct EndMarkers {
    channel: Channel,
}

impl EndMarkers {
    /// Hands every waiting request (up to `max`) to `each`.
    pub fn take(&mut self, max: usize, mut each: impl FnMut(&EndMarkerRecord)) -> usize {
        self.channel
            .recv_batch(max, |message| each(&EndMarkerRecord::from_bytes(message)))
            .unwrap_or(0)
    }
}
