//! The plugin: one instance per data-plane thread, each with its own buffers and Error
//! Indication budget, all reading the same rules and updating the same counters and buckets.

use core::net::IpAddr;
use std::sync::Mutex;

use fastlane_plugin::{Batch, Emitter, Packet, Plugin, PluginReason, Verdict};
use fastlane_wire::ethernet;
use upf_rules::{
    Admission, Direction, EndMarkerRecord, EndMarkers, EventSender, FarAction, Flow, Lookup,
    Matched, NextHopKey, NextHopRecord, OuterHeader, Query, UpfTables, BATCH, OHR_NONE, OUTER_IPV4,
    OUTER_IPV6, OUTER_PORT, PDR_HAS_QFI, QER_HAS_QFI,
};

use crate::buffer::{Buffers, MAX_FRAME};
use crate::config::UpfConfig;
use crate::encap::{self, Path, Rewrite, Tunnel, MAX_MESSAGE_FRAME};
use crate::flow::Inner;
use crate::meter::{now_ns, MessageLimit};
use crate::n3::{self, Malformed, Message};
use crate::node;

/// The plugin's counters (`fastlane_plugin_events_total{counter}`), by index.
pub const COUNTERS: &[&str] = &[
    "uplink_packets",
    "uplink_bytes",
    "downlink_packets",
    "downlink_bytes",
    "echo_requests_answered",
    "unknown_teid",
    "error_indications_sent",
    "error_indications_received",
    "end_markers_sent",
    "end_markers_unsent",
    "next_hop_miss",
    "buffered",
    "buffer_released",
    "buffer_discarded",
    "downlink_data_notified",
    "events_unsent",
];
const UPLINK_PACKETS: usize = 0;
const UPLINK_BYTES: usize = 1;
const DOWNLINK_PACKETS: usize = 2;
const DOWNLINK_BYTES: usize = 3;
const ECHO_ANSWERED: usize = 4;
const UNKNOWN_TEID: usize = 5;
const EI_SENT: usize = 6;
const EI_RECEIVED: usize = 7;
const END_MARKERS_SENT: usize = 8;
const END_MARKERS_UNSENT: usize = 9;
const NEXT_HOP_MISS: usize = 10;
const BUFFERED: usize = 11;
const BUFFER_RELEASED: usize = 12;
const BUFFER_DISCARDED: usize = 13;
const DOWNLINK_DATA_NOTIFIED: usize = 14;
const EVENTS_UNSENT: usize = 15;

/// The plugin's drop reasons (`fastlane_plugin_drops_total{reason}`), by index.
pub const DROP_REASONS: &[&str] = &[
    "gtpu_short_header",
    "gtpu_bad_length",
    "gtpu_version",
    "gtpu_bad_extension_header",
    "gtpu_unknown_mandatory_extension",
    "gtpu_unhandled_type",
    "gtpu_echo_response",
    "gtpu_error_indication",
    "gtpu_end_marker",
    "unknown_teid_rate_limited",
    "inner_malformed",
    "unknown_ue",
    "no_pdr",
    "far_drop",
    "gate_closed",
    "mbr_exceeded",
    "quota_exhausted",
    "buffer_full",
    "no_room",
];

/// Indexes into [`DROP_REASONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
enum Reason {
    ShortHeader = 0,
    BadLength,
    Version,
    BadExtensionHeader,
    UnknownMandatoryExtension,
    UnhandledType,
    EchoResponse,
    ErrorIndication,
    EndMarker,
    UnknownTeidRateLimited,
    InnerMalformed,
    UnknownUe,
    NoPdr,
    FarDrop,
    GateClosed,
    MbrExceeded,
    QuotaExhausted,
    BufferFull,
    NoRoom,
}

impl From<Malformed> for Reason {
    fn from(m: Malformed) -> Reason {
        match m {
            Malformed::ShortHeader => Reason::ShortHeader,
            Malformed::BadLength => Reason::BadLength,
            Malformed::Version => Reason::Version,
            Malformed::BadExtensionHeader => Reason::BadExtensionHeader,
            Malformed::UnknownMandatoryExtension => Reason::UnknownMandatoryExtension,
            Malformed::UnhandledType => Reason::UnhandledType,
        }
    }
}

/// What became of one packet: its verdict, or a drop for one of the plugin's reasons.
#[derive(Clone, Copy)]
enum Outcome {
    Verdict(Verdict),
    Drop(Reason),
}

impl From<Reason> for Outcome {
    fn from(r: Reason) -> Outcome {
        Outcome::Drop(r)
    }
}

impl From<Rewrite> for Reason {
    fn from(_: Rewrite) -> Reason {
        Reason::NoRoom
    }
}

/// A G-PDU whose inner packet parsed: what its lookup and its forwarding need.
#[derive(Clone, Copy)]
struct GPdu {
    outer: n3::Outer,
    teid: u32,
    qfi: Option<u8>,
    /// Where the T-PDU lies in the frame.
    inner: (usize, usize),
    parsed: Inner,
}

/// A packet as far as it is parsed before its PDR is looked up (for a whole batch at once).
#[derive(Clone, Copy)]
enum Parsed {
    /// Decided without a lookup.
    Done(Outcome),
    /// A GTP-U message other than a G-PDU, from `outer`.
    Message(Message, n3::Outer),
    GPdu(GPdu),
    /// An IP packet on N6.
    Downlink(Inner),
}

impl Parsed {
    /// The lookup the packet needs, if any.
    fn query(&self) -> Option<Query> {
        match self {
            Parsed::GPdu(g) => Some(Query::Uplink {
                teid: g.teid,
                qfi: g.qfi,
                flow: g.parsed.flow,
            }),
            Parsed::Downlink(inner) => Some(Query::Downlink { flow: inner.flow }),
            Parsed::Done(_) | Parsed::Message(..) => None,
        }
    }
}

/// The next hops one batch has looked up, by key: the packets of a batch mostly share a few (the
/// N6 gateway, a few gNBs), so each is read from the table once per batch.
struct HopMemo {
    entries: [(NextHopKey, Option<NextHopRecord>); HopMemo::SIZE],
    len: usize,
    /// The entry to replace next once full.
    next: usize,
}

impl HopMemo {
    const SIZE: usize = 4;

    fn new() -> Self {
        HopMemo {
            entries: [(NextHopKey::ipv4([0; 4]), None); HopMemo::SIZE],
            len: 0,
            next: 0,
        }
    }

    fn clear(&mut self) {
        self.len = 0;
        self.next = 0;
    }

    /// The usable next hop of `key`, from the memo or else from `tables` (then remembered).
    #[inline]
    fn get(&mut self, tables: &UpfTables, key: &NextHopKey) -> Option<NextHopRecord> {
        if let Some((_, hop)) = self.entries[..self.len].iter().find(|(k, _)| k == key) {
            return *hop;
        }
        let hop = tables.next_hop(key).filter(NextHopRecord::usable);
        if self.len < HopMemo::SIZE {
            self.entries[self.len] = (*key, hop);
            self.len += 1;
        } else {
            self.entries[self.next] = (*key, hop);
            self.next = (self.next + 1) % HopMemo::SIZE;
        }
        hop
    }
}

/// What the instances of this process hold of each region's channels, each of which has one
/// end here: an `events.N` producer per instance, the `end_markers` consumer for one of them.
static CLAIMS: Mutex<Vec<Claim>> = Mutex::new(Vec::new());

#[derive(Debug)]
struct Claim {
    region: String,
    /// `events.N` for each N held.
    channels: Vec<bool>,
    end_markers: bool,
}

/// Claims the first free `events.N` of `region` (below `channels`), and its `end_markers` if no
/// instance reads them yet: `(N, whether it reads end markers)`.
fn claim(region: &str, channels: usize) -> Option<(usize, bool)> {
    let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    let at = match claims.iter().position(|c| c.region == region) {
        Some(at) => at,
        None => {
            claims.push(Claim {
                region: region.to_owned(),
                channels: Vec::new(),
                end_markers: false,
            });
            claims.len() - 1
        }
    };
    let c = &mut claims[at];
    c.channels.resize(c.channels.len().max(channels), false);
    let n = c.channels[..channels].iter().position(|held| !held)?;
    c.channels[n] = true;
    let end_markers = !c.end_markers;
    c.end_markers = true;
    Some((n, end_markers))
}

fn unclaim(region: &str, channel: usize, end_markers: bool) {
    let mut claims = CLAIMS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = claims.iter_mut().find(|c| c.region == region) {
        if let Some(held) = c.channels.get_mut(channel) {
            *held = false;
        }
        if end_markers {
            c.end_markers = false;
        }
    }
}

/// Per-batch tallies, added to the counters once per batch.
#[derive(Default)]
struct Tally([u64; COUNTERS.len()]);

impl Tally {
    #[inline]
    fn add(&mut self, counter: usize, n: u64) {
        self.0[counter] += n;
    }

    fn flush(&self, counters: &fastlane_plugin::Counters<'_>) {
        for (i, &n) in self.0.iter().enumerate() {
            if n > 0 {
                counters.add(i, n);
            }
        }
    }
}

/// One data-plane thread's UPF.
pub struct Upf {
    config: UpfConfig,
    tables: UpfTables,
    /// This instance's `events.N` channel, and N.
    events: EventSender,
    channel: usize,
    /// The control plane's End Marker requests, for the one instance that reads them.
    end_markers: Option<EndMarkers>,
    buffers: Buffers,
    /// Error Indications: this thread's budget.
    error_indications: MessageLimit,
    /// The MAC of each of the two ports, as given or as learnt from the frames they receive.
    n3_mac: [u8; 6],
    n6_mac: [u8; 6],
    scratch: [u8; MAX_MESSAGE_FRAME],
    /// The lookups of one chunk of a batch (BATCH of them, reused: a PDR's head is read into
    /// them in place), taken out of `self` while the chunk is acted on.
    lookups: Vec<Lookup>,
    /// The next hops read during the current batch.
    hops: HopMemo,
}

impl std::fmt::Debug for Upf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upf")
            .field("config", &self.config)
            .field("channel", &self.channel)
            .field("buffered", &self.buffers.held())
            .finish_non_exhaustive()
    }
}

impl Plugin for Upf {
    const COUNTERS: &'static [&'static str] = COUNTERS;
    const DROP_REASONS: &'static [&'static str] = DROP_REASONS;

    fn new(config: &str) -> Result<Self, String> {
        let config = UpfConfig::parse(config)?;
        let tables = UpfTables::open(&config.region, &config.capacities)
            .map_err(|e| format!("region {}: {e}", config.region))?;
        let channels = config.capacities.event_channels as usize;
        let (channel, reads_end_markers) = claim(&config.region, channels).ok_or_else(|| {
            format!(
                "capacities.event_channels: all {channels} event channels are taken: give one \
                 per data-plane thread that runs this plugin"
            )
        })?;
        let opened = tables
            .events(channel as u32)
            .map_err(|e| format!("region {}: events.{channel}: {e}", config.region))
            .and_then(|events| {
                let end_markers = reads_end_markers
                    .then(|| tables.end_markers())
                    .transpose()
                    .map_err(|e| format!("region {}: end_markers: {e}", config.region))?;
                Ok((events, end_markers))
            });
        let (events, end_markers) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                unclaim(&config.region, channel, reads_end_markers);
                return Err(e);
            }
        };
        let b = config.buffering;
        let per_second = config.error_indications_per_second;
        Ok(Upf {
            buffers: Buffers::new(b.packets as usize, b.per_far as usize, b.fars as usize),
            error_indications: MessageLimit::new(per_second, (per_second / 10).max(1)),
            n3_mac: config.n3_mac.unwrap_or_default(),
            n6_mac: config.n6_mac.unwrap_or_default(),
            scratch: [0; MAX_MESSAGE_FRAME],
            lookups: vec![Lookup::Unknown; BATCH],
            hops: HopMemo::new(),
            end_markers,
            events,
            channel,
            tables,
            config,
        })
    }

    fn process(&mut self, batch: &mut Batch<'_>) {
        let port = batch.port();
        if port != self.config.n3_port && port != self.config.n6_port {
            return;
        }
        let mut tally = Tally::default();
        let now = now_ns();
        self.hops.clear();
        let mut packets = batch.iter_mut();
        loop {
            // BATCH packets at a time, in order.
            let mut chunk: [Option<Packet<'_>>; BATCH] = Default::default();
            let mut n = 0;
            for (at, packet) in chunk.iter_mut().zip(&mut packets) {
                *at = Some(packet);
                n += 1;
            }
            if n == 0 {
                break;
            }
            self.dispatch_chunk(port, &mut chunk[..n], now, &mut tally);
        }
        drop(packets);
        tally.flush(batch.counters());
    }

    fn poll(&mut self, out: &mut Emitter<'_>) {
        let mut tally = Tally::default();
        self.hops.clear();
        if !self.buffers.is_empty() {
            self.release_buffers(out, &mut tally);
        }
        if self.end_markers.is_some() {
            self.send_end_markers(out, &mut tally);
        }
        tally.flush(out.counters());
    }
}

impl Drop for Upf {
    fn drop(&mut self) {
        unclaim(
            &self.config.region,
            self.channel,
            self.end_markers.is_some(),
        );
    }
}

impl Upf {
    /// Decides one packet received on `port` (N3 or N6) at `now` (CLOCK_MONOTONIC ns), as
    /// `process` does each of a batch, without the plugin's counters: for driving the UPF
    /// without a host (the fuzz target).
    pub fn handle(&mut self, port: u16, packet: &mut Packet<'_>, now: u64) {
        if port == self.config.n3_port || port == self.config.n6_port {
            self.hops.clear();
            let parsed = self.parse(port, packet.data());
            let lookup = match parsed.query() {
                Some(Query::Uplink { teid, qfi, flow }) => self.tables.uplink(teid, qfi, &flow),
                Some(Query::Downlink { flow }) => self.tables.downlink(&flow),
                None => Lookup::Unknown,
            };
            self.act(port, packet, &parsed, &lookup, now, &mut Tally::default());
        }
    }

    /// Decides up to BATCH packets received on `port` in stages: parses them all, looks up
    /// their PDRs together (`lookup_batch`, whose memory loads overlap), then acts on each in
    /// order.
    fn dispatch_chunk(
        &mut self,
        port: u16,
        packets: &mut [Option<Packet<'_>>],
        now: u64,
        tally: &mut Tally,
    ) {
        let mut parsed = [Parsed::Done(Outcome::Verdict(Verdict::Kernel)); BATCH];
        let mut queries = [Query::Downlink {
            flow: Flow::default(),
        }; BATCH];
        // Which query each packet's is (BATCH: none).
        let mut query_of = [BATCH; BATCH];
        let mut n = 0;
        for ((packet, parsed), query_of) in packets.iter().zip(&mut parsed).zip(&mut query_of) {
            let Some(packet) = packet else { continue };
            *parsed = self.parse(port, packet.data());
            if let Some(query) = parsed.query() {
                queries[n] = query;
                *query_of = n;
                n += 1;
            }
        }
        let mut lookups = std::mem::take(&mut self.lookups);
        self.tables.lookup_batch(&queries[..n], &mut lookups);
        for lookup in &lookups[..n] {
            if let Lookup::Pdr(matched) = lookup {
                self.tables.prefetch_state(matched);
            }
        }
        for ((packet, parsed), &q) in packets.iter_mut().zip(&parsed).zip(&query_of) {
            let Some(packet) = packet else { continue };
            let lookup = lookups.get(q).unwrap_or(&Lookup::Unknown);
            self.act(port, packet, parsed, lookup, now, tally);
        }
        self.lookups = lookups;
    }

    /// How far a packet on `port` (N3 or N6) is parsed before its lookup.
    #[inline]
    fn parse(&self, port: u16, frame: &[u8]) -> Parsed {
        if port == self.config.n3_port {
            self.parse_n3(frame)
        } else {
            parse_n6(frame)
        }
    }

    /// Acts on a packet parsed as `parsed` whose PDR lookup (if it needed one) is `lookup`.
    #[inline]
    fn act(
        &mut self,
        port: u16,
        packet: &mut Packet<'_>,
        parsed: &Parsed,
        lookup: &Lookup,
        now: u64,
        tally: &mut Tally,
    ) {
        self.learn_mac(port, packet.data());
        let outcome = match parsed {
            Parsed::Done(outcome) => *outcome,
            Parsed::Message(message, outer) => self.on_message(packet, message, outer, tally),
            Parsed::GPdu(g) => self.uplink(packet, g, lookup, now, tally),
            Parsed::Downlink(inner) => self.downlink(packet, inner, lookup, now, tally),
        };
        match outcome {
            Outcome::Verdict(v) => packet.set_verdict(v),
            Outcome::Drop(reason) => packet.drop_for(PluginReason(reason as u16)),
        }
    }

    /// Without a configured MAC, a port's is the destination of what it receives (the classifier
    /// passes only frames for this host).
    #[inline]
    fn learn_mac(&mut self, port: u16, frame: &[u8]) {
        let (mac, configured) = if port == self.config.n3_port {
            (&mut self.n3_mac, self.config.n3_mac.is_some())
        } else {
            (&mut self.n6_mac, self.config.n6_mac.is_some())
        };
        if let (false, Some(dst)) = (configured, frame.get(..6)) {
            mac.copy_from_slice(dst);
        }
    }

    fn parse_n3(&self, frame: &[u8]) -> Parsed {
        let Some(outer) = n3::outer(frame) else {
            return Parsed::Done(Outcome::Verdict(Verdict::Kernel));
        };
        if self.config.n3_address_for(outer.peer) != Some(outer.local) {
            // GTP-U to an address that is not this UPF's N3 address: not ours.
            return Parsed::Done(Outcome::Verdict(Verdict::Kernel));
        }
        match n3::message(frame, &outer) {
            Err(malformed) => Parsed::Done(Reason::from(malformed).into()),
            Ok(Message::GPdu { teid, qfi, inner }) => {
                match frame.get(inner.0..inner.1).and_then(Inner::parse) {
                    Some(parsed) => Parsed::GPdu(GPdu {
                        outer,
                        teid,
                        qfi,
                        inner,
                        parsed,
                    }),
                    None => Parsed::Done(Reason::InnerMalformed.into()),
                }
            }
            Ok(message) => Parsed::Message(message, outer),
        }
    }

    /// A GTP-U message other than a G-PDU, from `outer`.
    fn on_message(
        &mut self,
        packet: &mut Packet<'_>,
        message: &Message,
        outer: &n3::Outer,
        tally: &mut Tally,
    ) -> Outcome {
        match *message {
            // `parse_n3` makes every G-PDU a `Parsed::GPdu`.
            Message::GPdu { .. } => Reason::UnhandledType.into(),
            Message::EchoRequest { seq } => {
                let answer =
                    node::back_to_sender(packet.data(), outer, outer.peer_port).and_then(|path| {
                        node::echo_response(&mut self.scratch, &path, seq, self.config.recovery)
                    });
                match answer.map(|len| encap::replace(packet, &self.scratch[..len])) {
                    Some(Ok(())) => {
                        tally.add(ECHO_ANSWERED, 1);
                        Outcome::Verdict(Verdict::Transmit)
                    }
                    _ => Reason::NoRoom.into(),
                }
            }
            Message::EchoResponse => Reason::EchoResponse.into(),
            Message::EndMarker { .. } => Reason::EndMarker.into(),
            Message::ErrorIndication { teid, address } => {
                tally.add(EI_RECEIVED, 1);
                let mut remote = OuterHeader {
                    teid,
                    ..OuterHeader::default()
                };
                match address {
                    Some(IpAddr::V4(a)) => {
                        remote.flags = OUTER_IPV4;
                        remote.ipv4 = a.octets();
                    }
                    Some(IpAddr::V6(a)) => {
                        remote.flags = OUTER_IPV6;
                        remote.ipv6 = a.octets();
                    }
                    None => {}
                }
                if !self.events.error_indication(&remote) {
                    tally.add(EVENTS_UNSENT, 1);
                }
                Reason::ErrorIndication.into()
            }
        }
    }

    /// A G-PDU whose PDR lookup is `lookup`.
    fn uplink(
        &mut self,
        packet: &mut Packet<'_>,
        g: &GPdu,
        lookup: &Lookup,
        now: u64,
        tally: &mut Tally,
    ) -> Outcome {
        let (parsed, inner) = (&g.parsed, g.inner);
        let matched = match lookup {
            Lookup::Unknown => return self.unknown_teid(packet, g.teid, &g.outer, now, tally),
            Lookup::NoPdr { .. } => return Reason::NoPdr.into(),
            Lookup::Pdr(matched) => matched,
        };
        let far = &matched.pdr.far;
        if !far.forwards() {
            return Reason::FarDrop.into();
        }
        if let Err(reason) = self.admit(matched, Direction::Uplink, parsed.len, now) {
            return reason.into();
        }
        let macs = Macs {
            rx: self.n3_mac,
            n3: self.n3_mac,
            n6: self.n6_mac,
        };
        let outcome = if matched.pdr.outer_header_removal != OHR_NONE {
            // The inner packet ends where its own length says (the T-PDU may be padded).
            let inner = (inner.0, inner.0 + parsed.len);
            let dst_mac = mac(packet.data());
            if let Err(e) = encap::decapsulate(packet, inner, parsed.is_ipv6(), dst_mac, [0; 6]) {
                return Reason::from(e).into();
            }
            let qfi = qfi_of(matched).unwrap_or(0);
            self.onwards(packet, far, parsed.len, parsed.dst(), qfi, macs, tally)
        } else {
            // Kept as it came, GTP-U and all: only the Ethernet header is rewritten.
            self.send_to_next_hop(packet, parsed.dst(), macs, tally)
        };
        if matches!(outcome, Outcome::Verdict(_)) {
            tally.add(UPLINK_PACKETS, 1);
            tally.add(UPLINK_BYTES, parsed.len as u64);
        }
        outcome
    }

    /// A G-PDU for a TEID no session has: an Error Indication back to its sender in place of
    /// it, as far as this thread's budget allows.
    fn unknown_teid(
        &mut self,
        packet: &mut Packet<'_>,
        teid: u32,
        outer: &n3::Outer,
        now: u64,
        tally: &mut Tally,
    ) -> Outcome {
        tally.add(UNKNOWN_TEID, 1);
        if !self.error_indications.admit(now) {
            return Reason::UnknownTeidRateLimited.into();
        }
        let indication = node::back_to_sender(packet.data(), outer, fastlane_wire::gtpu::PORT)
            .and_then(|path| {
                node::error_indication(&mut self.scratch, &path, teid, outer.local, outer.peer_port)
            });
        match indication.map(|len| encap::replace(packet, &self.scratch[..len])) {
            Some(Ok(())) => {
                tally.add(EI_SENT, 1);
                Outcome::Verdict(Verdict::Transmit)
            }
            _ => Reason::NoRoom.into(),
        }
    }

    /// An IP packet on N6 (`parsed`) whose PDR lookup is `lookup`.
    fn downlink(
        &mut self,
        packet: &mut Packet<'_>,
        parsed: &Inner,
        lookup: &Lookup,
        now: u64,
        tally: &mut Tally,
    ) -> Outcome {
        let matched = match lookup {
            Lookup::Unknown => return Reason::UnknownUe.into(),
            Lookup::NoPdr { .. } => return Reason::NoPdr.into(),
            Lookup::Pdr(matched) => matched,
        };
        let far = &matched.pdr.far;
        let queue = buffer_key(matched);
        if far.buffers() || far.notifies_cp() {
            self.notify_downlink_data(matched, tally);
        }
        if far.buffers() || (far.forwards() && self.buffers.holds(queue)) {
            // Buffering, or behind packets still held: in order, after them.
            let held = &packet.data()[..ethernet::HEADER_LEN + parsed.len];
            return match self.buffers.push(queue, held) {
                Ok(_) => {
                    tally.add(BUFFERED, 1);
                    Outcome::Verdict(Verdict::Taken)
                }
                Err(_) => Reason::BufferFull.into(),
            };
        }
        if !far.forwards() {
            return Reason::FarDrop.into();
        }
        if let Err(reason) = self.admit(matched, Direction::Downlink, parsed.len, now) {
            return reason.into();
        }
        let macs = Macs {
            rx: self.n6_mac,
            n3: self.n3_mac,
            n6: self.n6_mac,
        };
        let qfi = qfi_of(matched).unwrap_or(0);
        let outcome = self.onwards(packet, far, parsed.len, parsed.dst(), qfi, macs, tally);
        if matches!(outcome, Outcome::Verdict(_)) {
            tally.add(DOWNLINK_PACKETS, 1);
            tally.add(DOWNLINK_BYTES, parsed.len as u64);
        }
        outcome
    }

    /// The matched PDR's QERs and URRs on a packet of `len` bytes (the inner IP packet).
    #[inline]
    fn admit(
        &mut self,
        matched: &Matched,
        direction: Direction,
        len: usize,
        now: u64,
    ) -> Result<(), Reason> {
        match self
            .tables
            .admit(matched, direction, len as u32, now, &mut self.events)
        {
            Admission::Pass => Ok(()),
            Admission::GateClosed { .. } => Err(Reason::GateClosed),
            Admission::RateLimited { .. } => Err(Reason::MbrExceeded),
            Admission::QuotaExhausted { .. } => Err(Reason::QuotaExhausted),
        }
    }

    fn notify_downlink_data(&mut self, matched: &Matched, tally: &mut Tally) {
        if self.tables.notify_downlink_data(matched, &mut self.events) {
            tally.add(DOWNLINK_DATA_NOTIFIED, 1);
        }
    }

    /// After the FAR said forward: into a tunnel when it has an outer header creation (downlink
    /// to a gNB, with `qfi` in its PDU Session Container), else as plain IP to `inner_dst`'s
    /// next hop (uplink to N6).
    #[allow(clippy::too_many_arguments)]
    fn onwards(
        &mut self,
        packet: &mut Packet<'_>,
        far: &FarAction,
        inner_len: usize,
        inner_dst: IpAddr,
        qfi: u8,
        macs: Macs,
        tally: &mut Tally,
    ) -> Outcome {
        let Some(outer) = far.outer_header() else {
            return self.send_to_next_hop(packet, inner_dst, macs, tally);
        };
        let Some((path, hop)) = self.tunnel_path(outer, macs) else {
            return Reason::FarDrop.into();
        };
        let tunnel = Tunnel {
            teid: outer.teid,
            qfi,
        };
        if let Err(e) = encap::encapsulate(packet, inner_len, &path, tunnel) {
            return Reason::from(e).into();
        }
        match hop {
            Some(h) => Outcome::Verdict(Verdict::TransmitOn(h.port)),
            None => {
                tally.add(NEXT_HOP_MISS, 1);
                Outcome::Verdict(Verdict::Kernel)
            }
        }
    }

    /// The path into the tunnel `outer` and the peer's next hop (see [`tunnel_path`]).
    fn tunnel_path(
        &mut self,
        outer: &OuterHeader,
        macs: Macs,
    ) -> Option<(Path, Option<NextHopRecord>)> {
        tunnel_path(&self.config, &self.tables, &mut self.hops, outer, macs)
    }

    /// Rewrites the Ethernet header for `dst`'s next hop and sends the packet there; without one
    /// the packet goes to the kernel (addressed to the port it came in on), which routes it and
    /// resolves the neighbour.
    fn send_to_next_hop(
        &mut self,
        packet: &mut Packet<'_>,
        dst: IpAddr,
        macs: Macs,
        tally: &mut Tally,
    ) -> Outcome {
        let hop = self.n6_next_hop(dst);
        let frame = packet.data_mut();
        match hop {
            Some(h) => {
                frame[..6].copy_from_slice(&h.mac);
                frame[6..12].copy_from_slice(&macs.n6);
                Outcome::Verdict(Verdict::TransmitOn(h.port))
            }
            None => {
                frame[..6].copy_from_slice(&macs.rx);
                tally.add(NEXT_HOP_MISS, 1);
                Outcome::Verdict(Verdict::Kernel)
            }
        }
    }

    /// The next hop towards `dst` on N6: the destination's own entry (a neighbour on the link),
    /// else the default route's (the N6 gateway, written under the unspecified address).
    fn n6_next_hop(&mut self, dst: IpAddr) -> Option<NextHopRecord> {
        let default = match dst {
            IpAddr::V4(_) => NextHopKey::ipv4([0; 4]),
            IpAddr::V6(_) => NextHopKey::ipv6([0; 16]),
        };
        let (tables, hops) = (&self.tables, &mut self.hops);
        hops.get(tables, &next_hop_key(dst))
            .or_else(|| hops.get(tables, &default))
    }

    /// Sends the packets held for FARs that now forward, in the order they came (each looked up
    /// again, so it goes as its session's rules say now); discards those of FARs that now drop
    /// (or sessions that are gone); leaves the rest held.
    fn release_buffers(&mut self, out: &mut Emitter<'_>, tally: &mut Tally) {
        let mut keys = [0u64; 16];
        let n = self.buffers.keys(&mut keys);
        for &key in &keys[..n] {
            let far = self
                .buffers
                .front(key)
                .and_then(|frame| frame.get(ethernet::HEADER_LEN..))
                .and_then(Inner::parse)
                .and_then(|inner| match self.tables.downlink(&inner.flow) {
                    Lookup::Pdr(m) => Some(m.pdr.far),
                    _ => None,
                });
            match far {
                Some(far) if far.buffers() => {}
                Some(far) if far.forwards() => self.release(key, out, tally),
                _ => {
                    let n = self.buffers.discard(key);
                    tally.add(BUFFER_DISCARDED, n as u64);
                }
            }
        }
    }

    /// Sends every packet held for `key`, each as its PDR says now (QERs and URRs applied as to
    /// any downlink packet), in order.
    fn release(&mut self, key: u64, out: &mut Emitter<'_>, tally: &mut Tally) {
        const CHUNK: usize = 32;
        let now = now_ns();
        let macs = Macs {
            rx: self.n6_mac,
            n3: self.n3_mac,
            n6: self.n6_mac,
        };
        loop {
            let mut frames = [(0u32, 0u32); CHUNK];
            let mut taken = [0u32; CHUNK];
            // Where each kept frame goes, and its inner length.
            let mut sent_on = [(0u16, 0usize); CHUNK];
            let mut kept = 0;
            let (tables, events, hops) = (&self.tables, &mut self.events, &mut self.hops);
            let (took, _) = self.buffers.take(key, &mut frames, &mut taken, |packet| {
                let Some(inner) = packet
                    .data()
                    .get(ethernet::HEADER_LEN..)
                    .and_then(Inner::parse)
                else {
                    return false;
                };
                let Lookup::Pdr(m) = tables.downlink(&inner.flow) else {
                    return false;
                };
                let Some(outer) = m.pdr.far.outer_header().filter(|_| m.pdr.far.forwards()) else {
                    return false;
                };
                let Some((path, Some(hop))) = tunnel_path(&self.config, tables, hops, outer, macs)
                else {
                    return false;
                };
                if tables.admit(&m, Direction::Downlink, inner.len as u32, now, events)
                    != Admission::Pass
                {
                    return false;
                }
                let tunnel = Tunnel {
                    teid: outer.teid,
                    qfi: qfi_of(&m).unwrap_or(0),
                };
                if encap::encapsulate(packet, inner.len, &path, tunnel).is_err() {
                    return false;
                }
                sent_on[kept] = (hop.port, inner.len);
                kept += 1;
                true
            });
            if took == 0 {
                return;
            }
            // In order, a run of frames to one port at a time.
            let mut start = 0;
            while start < kept {
                let port = sent_on[start].0;
                let end = (start..kept)
                    .find(|&i| sent_on[i].0 != port)
                    .unwrap_or(kept);
                let mut views: [&[u8]; CHUNK] = [&[]; CHUNK];
                for (view, &f) in views.iter_mut().zip(&frames[start..end]) {
                    *view = self.buffers.frame(f);
                }
                out.transmit(port, &views[..end - start]);
                start = end;
            }
            self.buffers.free_taken(&taken[..took]);
            tally.add(BUFFER_RELEASED, kept as u64);
            tally.add(BUFFER_DISCARDED, (took - kept) as u64);
            for &(_, len) in &sent_on[..kept] {
                tally.add(DOWNLINK_PACKETS, 1);
                tally.add(DOWNLINK_BYTES, len as u64);
            }
        }
    }

    /// Sends the End Markers the control plane asked for: on the old path of a switched FAR.
    fn send_end_markers(&mut self, out: &mut Emitter<'_>, tally: &mut Tally) {
        let mut requests = [None; 16];
        let mut n = 0;
        if let Some(channel) = &mut self.end_markers {
            channel.take(requests.len(), |r| {
                requests[n] = Some(*r);
                n += 1;
            });
        }
        for request in requests[..n].iter().flatten() {
            if self.end_marker(request, out) {
                tally.add(END_MARKERS_SENT, 1);
            } else {
                tally.add(END_MARKERS_UNSENT, 1);
            }
        }
    }

    fn end_marker(&mut self, request: &EndMarkerRecord, out: &mut Emitter<'_>) -> bool {
        let macs = Macs {
            rx: self.n3_mac,
            n3: self.n3_mac,
            n6: self.n6_mac,
        };
        let Some((path, Some(hop))) = self.tunnel_path(&request.old_path, macs) else {
            return false;
        };
        let Some(len) = node::end_marker(&mut self.scratch, &path, request.old_path.teid) else {
            return false;
        };
        out.transmit(hop.port, &[&self.scratch[..len]]) == 1
    }
}

/// How far an N6 frame is parsed before its lookup: IP only (else the kernel's).
fn parse_n6(frame: &[u8]) -> Parsed {
    if !matches!(frame.get(12..14), Some([0x08, 0x00] | [0x86, 0xdd])) {
        return Parsed::Done(Outcome::Verdict(Verdict::Kernel));
    }
    match frame.get(ethernet::HEADER_LEN..).and_then(Inner::parse) {
        Some(parsed) => Parsed::Downlink(parsed),
        None => Parsed::Done(Reason::InnerMalformed.into()),
    }
}

/// The path into the tunnel `outer` and the peer's next hop; without one the frame is
/// addressed to the port it came in on (`macs.rx`), for the kernel. `None` when the peer's
/// address is missing or of a family this UPF has no N3 address of.
fn tunnel_path(
    config: &UpfConfig,
    tables: &UpfTables,
    hops: &mut HopMemo,
    outer: &OuterHeader,
    macs: Macs,
) -> Option<(Path, Option<NextHopRecord>)> {
    let peer = outer_address(outer)?;
    let local = config.n3_address_for(peer)?;
    let hop = hops.get(tables, &next_hop_key(peer));
    let path = Path {
        dst_mac: hop.map_or(macs.rx, |h| h.mac),
        src_mac: macs.n3,
        src: local,
        dst: peer,
        src_port: fastlane_wire::gtpu::PORT,
        dst_port: outer_port(outer),
    };
    Some((path, hop))
}

/// The MACs a packet's journey needs: the port it came in on (what the kernel takes a frame
/// addressed to) and the two ports it may leave by.
#[derive(Debug, Clone, Copy)]
struct Macs {
    rx: [u8; 6],
    n3: [u8; 6],
    n6: [u8; 6],
}

fn mac(frame: &[u8]) -> [u8; 6] {
    let mut m = [0u8; 6];
    if let Some(b) = frame.get(..6) {
        m.copy_from_slice(b);
    }
    m
}

/// A FAR of one session, whatever the generation: the key of its buffered packets.
fn buffer_key(matched: &Matched) -> u64 {
    u64::from(matched.slot) << 32 | u64::from(matched.pdr.far_id)
}

/// The QFI of a downlink packet's PDU Session Container: its QER's, else its PDR's.
fn qfi_of(matched: &Matched) -> Option<u8> {
    let pdr = &matched.pdr;
    pdr.qers()
        .iter()
        .find(|q| q.flags & QER_HAS_QFI != 0)
        .map(|q| q.qfi)
        .or((pdr.flags & PDR_HAS_QFI != 0).then_some(pdr.qfi))
}

fn outer_address(outer: &OuterHeader) -> Option<IpAddr> {
    if outer.flags & OUTER_IPV4 != 0 {
        Some(IpAddr::from(outer.ipv4))
    } else if outer.flags & OUTER_IPV6 != 0 {
        Some(IpAddr::from(outer.ipv6))
    } else {
        None
    }
}

fn outer_port(outer: &OuterHeader) -> u16 {
    if outer.flags & OUTER_PORT != 0 {
        outer.port
    } else {
        fastlane_wire::gtpu::PORT
    }
}

fn next_hop_key(addr: IpAddr) -> NextHopKey {
    match addr {
        IpAddr::V4(a) => NextHopKey::ipv4(a.octets()),
        IpAddr::V6(a) => NextHopKey::ipv6(a.octets()),
    }
}

const _: () = assert!(MAX_FRAME >= 1514);
