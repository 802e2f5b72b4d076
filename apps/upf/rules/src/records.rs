//! The records in the region, as plain `repr(C)` structs of integers and byte arrays (any bit
//! pattern is a valid value), so that another language or an in-kernel program can read them from
//! their offsets alone. Multi-byte integers are native-endian (the region never leaves the
//! machine); addresses and MACs are in network order, as on the wire. Sizes and offsets are fixed
//! by the assertions at the end and printed for TypeScript by `examples/layout.rs`.

/// No record: the end of a chain of PDRs.
pub const NONE: u32 = u32::MAX;

/// Records of the region: plain old data that any bit pattern fills, a whole number of 8-byte
/// words, 8-aligned.
///
/// # Safety
/// Implementors must be `repr(C)`, contain only integers and arrays of integers, have no padding
/// the compiler inserts (every gap is an explicit field), and have an 8-byte alignment and a
/// size that is a multiple of 8.
pub unsafe trait Record: Copy + 'static {
    /// The all-zero record.
    fn zeroed() -> Self {
        // SAFETY: the trait's contract: every bit pattern, all-zero included, is valid.
        unsafe { std::mem::zeroed() }
    }

    /// The record's bytes, as stored in a table.
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: a `Record` has no implicit padding, so every byte is initialised.
        unsafe {
            std::slice::from_raw_parts((self as *const Self).cast(), std::mem::size_of::<Self>())
        }
    }

    /// The record's words, to copy into from shared memory.
    fn as_words_mut(&mut self) -> &mut [u64] {
        // SAFETY: 8-aligned, a whole number of words, and any bit pattern is valid.
        unsafe {
            std::slice::from_raw_parts_mut(
                (self as *mut Self).cast(),
                std::mem::size_of::<Self>() / 8,
            )
        }
    }

    /// A record from `bytes` (shorter input leaves the rest zero; longer is cut).
    fn from_bytes(bytes: &[u8]) -> Self {
        let mut record = Self::zeroed();
        let size = std::mem::size_of::<Self>().min(bytes.len());
        // SAFETY: `record` is `size_of::<Self>()` bytes and any bit pattern is valid.
        let out = unsafe {
            std::slice::from_raw_parts_mut(
                (&mut record as *mut Self).cast::<u8>(),
                std::mem::size_of::<Self>(),
            )
        };
        out[..size].copy_from_slice(&bytes[..size]);
        record
    }
}

/// Interfaces, as PFCP codes them (TS 29.244 §8.2.2).
pub const INTERFACE_ACCESS: u8 = 0;
pub const INTERFACE_CORE: u8 = 1;
pub const INTERFACE_SGI_LAN: u8 = 2;
pub const INTERFACE_CP_FUNCTION: u8 = 3;

/// The keys a PDR is found by (`MatchKey::kind`).
pub const MATCH_TEID: u8 = 1;
pub const MATCH_UE_IPV4: u8 = 2;
/// The first 64 bits of a UE's IPv6 prefix (prefixes are /64 or longer).
pub const MATCH_UE_IPV6: u8 = 3;

/// Key of table `pdr_index`: what a packet is looked up by.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatchKey {
    pub kind: u8,
    pub _pad: [u8; 3],
    /// MATCH_TEID: the local TEID; else 0.
    pub teid: u32,
    /// MATCH_UE_IPV4: the address in the first 4 bytes; MATCH_UE_IPV6: the /64 in the first 8.
    pub addr: [u8; 16],
}

impl MatchKey {
    pub fn teid(teid: u32) -> Self {
        MatchKey {
            kind: MATCH_TEID,
            _pad: [0; 3],
            teid,
            addr: [0; 16],
        }
    }

    pub fn ue_ipv4(addr: [u8; 4]) -> Self {
        let mut key = MatchKey {
            kind: MATCH_UE_IPV4,
            _pad: [0; 3],
            teid: 0,
            addr: [0; 16],
        };
        key.addr[..4].copy_from_slice(&addr);
        key
    }

    /// The key of every address in `addr`'s /64.
    pub fn ue_ipv6(addr: &[u8; 16]) -> Self {
        let mut key = MatchKey {
            kind: MATCH_UE_IPV6,
            _pad: [0; 3],
            teid: 0,
            addr: [0; 16],
        };
        key.addr[..8].copy_from_slice(&addr[..8]);
        key
    }

    /// Which of a PDR's chains (`PdrRecord::next`) this key's PDRs are linked in.
    pub fn chain(&self) -> usize {
        usize::from(self.kind == MATCH_UE_IPV6)
    }
}

/// The first PDR of a key's chain at one generation of its session.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub generation: u32,
    /// PDR id, or NONE when the key has no PDR at that generation.
    pub first: u32,
}

/// Value of table `pdr_index`. Written whole by the writer: `heads[g & 1]` serves generation g,
/// so the writer prepares generation g + 1 in the other half while g is published.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchRecord {
    pub seid: u64,
    /// The session's slot: its cell in `session_state` and the first word of its rules' keys.
    pub slot: u32,
    pub _pad: u32,
    pub heads: [ChainHead; 2],
}

/// Key of tables `sessions` (id 0), `pdrs`, `fars`, `qers` and `urrs`: a rule of one generation
/// of one session. Records under a key never change; a new generation has new keys.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleKey {
    pub slot: u32,
    pub generation: u32,
    pub id: u32,
    pub _pad: u32,
}

impl RuleKey {
    pub fn new(slot: u32, generation: u32, id: u32) -> Self {
        RuleKey {
            slot,
            generation,
            id,
            _pad: 0,
        }
    }
}

/// `SessionRecord::flags`
pub const SESSION_HAS_BAR: u8 = 1;
pub const SESSION_HAS_SUGGESTED_BUFFERING: u8 = 2;

/// Value of table `sessions`: one generation of a session, and how many rules of each kind it
/// has (a restarted writer checks it found them all).
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRecord {
    pub seid: u64,
    pub slot: u32,
    pub generation: u32,
    pub pdrs: u16,
    pub fars: u16,
    pub qers: u16,
    pub urrs: u16,
    pub flags: u8,
    pub bar_id: u8,
    pub suggested_buffering_packets: u16,
    pub _pad: u32,
}

/// `OuterHeader::flags`
pub const OUTER_IPV4: u8 = 1;
pub const OUTER_IPV6: u8 = 2;
pub const OUTER_PORT: u8 = 4;

/// A GTP-U/UDP/IP tunnel end: an F-TEID or an Outer Header Creation.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OuterHeader {
    pub flags: u8,
    pub _pad: u8,
    /// UDP port (2152 when OUTER_PORT is not set).
    pub port: u16,
    pub teid: u32,
    pub ipv4: [u8; 4],
    pub ipv6: [u8; 16],
}

/// `FarAction::action` bits: Apply Action (TS 29.244 §8.2.26).
pub const ACTION_FORWARD: u8 = 1;
pub const ACTION_DROP: u8 = 2;
pub const ACTION_BUFFER: u8 = 4;
pub const ACTION_NOTIFY_CP: u8 = 8;
pub const ACTION_DUPLICATE: u8 = 16;

/// `FarAction::flags`
pub const FAR_HAS_FORWARDING: u8 = 1;
pub const FAR_HAS_OUTER_HEADER: u8 = 2;

/// What a FAR does to a packet: the part of a FAR the fast path needs, copied into every PDR
/// that uses it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FarAction {
    pub action: u8,
    pub destination_interface: u8,
    pub flags: u8,
    pub _pad: u8,
    /// Outer Header Creation, when FAR_HAS_OUTER_HEADER.
    pub outer: OuterHeader,
}

impl FarAction {
    pub fn forwards(&self) -> bool {
        self.action & ACTION_FORWARD != 0
    }

    pub fn buffers(&self) -> bool {
        self.action & ACTION_BUFFER != 0
    }

    pub fn notifies_cp(&self) -> bool {
        self.action & ACTION_NOTIFY_CP != 0
    }

    pub fn outer_header(&self) -> Option<&OuterHeader> {
        (self.flags & FAR_HAS_OUTER_HEADER != 0).then_some(&self.outer)
    }
}

/// `QerRecord::flags`
pub const QER_HAS_GATE: u8 = 1;
pub const QER_HAS_MBR: u8 = 2;
pub const QER_HAS_QFI: u8 = 4;
/// `QerRecord::gate` bits: closed per direction.
pub const GATE_UPLINK_CLOSED: u8 = 1;
pub const GATE_DOWNLINK_CLOSED: u8 = 2;

/// Value of table `qers`, also copied into the PDRs that use the QER.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QerRecord {
    pub qer_id: u32,
    /// The QER's cell in `qer_state` (its token buckets), kept across generations.
    pub cell: u32,
    pub flags: u8,
    pub gate: u8,
    pub qfi: u8,
    pub _pad: [u8; 5],
    /// kbit/s; 0 is unlimited.
    pub mbr_uplink_kbps: u64,
    pub mbr_downlink_kbps: u64,
}

/// `UrrLimits::flags` and `UrrRecord::limits`: which volume limits are set.
pub const LIMIT_THRESHOLD_TOTAL: u8 = 1;
pub const LIMIT_THRESHOLD_UPLINK: u8 = 2;
pub const LIMIT_THRESHOLD_DOWNLINK: u8 = 4;
pub const LIMIT_QUOTA_TOTAL: u8 = 8;
pub const LIMIT_QUOTA_UPLINK: u8 = 16;
pub const LIMIT_QUOTA_DOWNLINK: u8 = 32;
pub const LIMIT_THRESHOLD: u8 =
    LIMIT_THRESHOLD_TOTAL | LIMIT_THRESHOLD_UPLINK | LIMIT_THRESHOLD_DOWNLINK;
pub const LIMIT_QUOTA: u8 = LIMIT_QUOTA_TOTAL | LIMIT_QUOTA_UPLINK | LIMIT_QUOTA_DOWNLINK;

/// Index of the total, uplink and downlink volumes in the arrays below.
pub const TOTAL: usize = 0;
pub const UPLINK: usize = 1;
pub const DOWNLINK: usize = 2;

/// The part of a URR the fast path needs, copied into every PDR that counts into it: its cell
/// and its limits as absolute byte counts of that cell (the base the limit was set at, plus the
/// limit).
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrrLimits {
    pub urr_id: u32,
    /// The URR's cell in `urr_state` (its counters), kept across generations.
    pub cell: u32,
    /// Which threshold this is (the generation that set it): its event is raised once per epoch.
    pub threshold_epoch: u32,
    /// Which quota this is, likewise.
    pub quota_epoch: u32,
    pub flags: u8,
    pub _pad: [u8; 7],
    /// Bytes (total, uplink, downlink) at which the threshold is crossed.
    pub threshold_at: [u64; 3],
    /// Bytes at which the quota is used up.
    pub quota_at: [u64; 3],
}

/// `UrrRecord::methods` (Measurement Method) and `UrrRecord::triggers` (Reporting Triggers) bits.
pub const METHOD_VOLUME: u8 = 1;
pub const METHOD_DURATION: u8 = 2;
pub const METHOD_EVENT: u8 = 4;
pub const TRIGGER_PERIODIC: u8 = 1;
pub const TRIGGER_VOLUME_THRESHOLD: u8 = 2;
pub const TRIGGER_VOLUME_QUOTA: u8 = 4;
pub const TRIGGER_TIME_THRESHOLD: u8 = 8;
pub const TRIGGER_START: u8 = 16;
/// `UrrRecord::flags`
pub const URR_HAS_PERIOD: u8 = 1;
pub const URR_HAS_TIME_THRESHOLD: u8 = 2;

/// Value of table `urrs`: a URR as the control plane gave it.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UrrRecord {
    /// What PDRs copy; `limits.flags` says which limits are set.
    pub limits: UrrLimits,
    pub methods: u8,
    pub triggers: u8,
    pub flags: u8,
    pub _pad: u8,
    pub measurement_period_seconds: u32,
    pub time_threshold_seconds: u32,
    pub _pad2: u32,
    /// The limits as given (bytes: total, uplink, downlink).
    pub threshold: [u64; 3],
    pub quota: [u64; 3],
}

/// `SdfRecord::flags`
pub const SDF_PROTOCOL: u8 = 1;
pub const SDF_UE_PREFIX: u8 = 2;
pub const SDF_REMOTE_PREFIX: u8 = 4;
pub const SDF_UE_PORTS: u8 = 8;
pub const SDF_REMOTE_PORTS: u8 = 16;
pub const SDF_FILTER_ID: u8 = 32;
/// The prefixes are IPv6 (else IPv4, in the first 4 bytes).
pub const SDF_IPV6: u8 = 64;

/// One SDF filter: the UE's end and the data network's end of a flow, whatever the direction.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SdfRecord {
    pub flags: u8,
    pub protocol: u8,
    pub ue_prefix_len: u8,
    pub remote_prefix_len: u8,
    pub filter_id: u32,
    /// Inclusive ranges.
    pub ue_ports: [u16; 2],
    pub remote_ports: [u16; 2],
    pub ue_addr: [u8; 16],
    pub remote_addr: [u8; 16],
}

/// Most SDF filters, QERs and URRs of one PDR.
pub const MAX_SDF_PER_PDR: usize = 4;
pub const MAX_QER_PER_PDR: usize = 2;
pub const MAX_URR_PER_PDR: usize = 2;
/// Most rules of one session.
pub const MAX_PDR_PER_SESSION: usize = 16;
pub const MAX_FAR_PER_SESSION: usize = 16;
pub const MAX_QER_PER_SESSION: usize = 8;
pub const MAX_URR_PER_SESSION: usize = 8;
/// Longest Network Instance.
pub const MAX_NETWORK_INSTANCE: usize = 32;

/// `PdrRecord::flags`
pub const PDR_HAS_QFI: u8 = 1;
pub const PDR_HAS_LOCAL_FTEID: u8 = 2;
pub const PDR_UE_IPV4: u8 = 4;
pub const PDR_UE_IPV6: u8 = 8;
/// `PdrRecord::outer_header_removal`
pub const OHR_NONE: u8 = 0;
pub const OHR_GTPU_UDP_IPV4: u8 = 1;
pub const OHR_GTPU_UDP_IPV6: u8 = 2;
pub const OHR_GTPU_UDP_IP: u8 = 3;

/// Value of table `pdrs`: a PDR with everything the fast path needs to act on a packet it
/// matches (its FAR's action, its QERs and its URRs' limits), then what only the control plane
/// reads. The fast path copies the hot head (up to `HOT_END`, with only the QERs and URRs
/// used) and reads SDF filters in place.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdrRecord {
    pub hot: PdrHot,
    pub sdf: [SdfRecord; MAX_SDF_PER_PDR],
    pub ue_ipv4: [u8; 4],
    pub local_fteid: OuterHeader,
    pub ue_ipv6: [u8; 16],
    pub network_instance: [u8; MAX_NETWORK_INSTANCE],
}

/// The head of a PDR that the fast path copies for the packet it matched: its FAR's action,
/// its QERs and its URRs' limits.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdrHot {
    pub seid: u64,
    pub precedence: u32,
    pub far_id: u32,
    /// The next PDR, in precedence order, of the same key: [TEID or UE IPv4 chain, UE IPv6 chain].
    pub next: [u32; 2],
    pub pdr_id: u16,
    pub flags: u8,
    pub qfi: u8,
    pub outer_header_removal: u8,
    pub source_interface: u8,
    pub sdf_count: u8,
    pub qer_count: u8,
    pub urr_count: u8,
    pub ue_ipv6_prefix_len: u8,
    pub network_instance_len: u8,
    pub _pad: [u8; 5],
    pub far: FarAction,
    pub qers: [QerRecord; MAX_QER_PER_PDR],
    pub urrs: [UrrLimits; MAX_URR_PER_PDR],
}

impl PdrHot {
    pub fn qers(&self) -> &[QerRecord] {
        &self.qers[..usize::from(self.qer_count).min(MAX_QER_PER_PDR)]
    }

    pub fn urrs(&self) -> &[UrrLimits] {
        &self.urrs[..usize::from(self.urr_count).min(MAX_URR_PER_PDR)]
    }
}

/// Value of table `fars`: a FAR as the control plane gave it.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FarRecord {
    pub far_id: u32,
    pub flags: u8,
    pub bar_id: u8,
    pub network_instance_len: u8,
    pub _pad: u8,
    pub action: FarAction,
    pub network_instance: [u8; MAX_NETWORK_INSTANCE],
}

/// `FarRecord::flags`
pub const FAR_RECORD_HAS_BAR: u8 = 1;

/// Key of table `next_hops`.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NextHopKey {
    /// 4 or 6.
    pub family: u8,
    pub _pad: [u8; 7],
    /// IPv4 in the first 4 bytes.
    pub addr: [u8; 16],
}

impl NextHopKey {
    pub fn ipv4(addr: [u8; 4]) -> Self {
        let mut key = NextHopKey {
            family: 4,
            _pad: [0; 7],
            addr: [0; 16],
        };
        key.addr[..4].copy_from_slice(&addr);
        key
    }

    pub fn ipv6(addr: [u8; 16]) -> Self {
        NextHopKey {
            family: 6,
            _pad: [0; 7],
            addr,
        }
    }
}

/// `NextHopRecord::state`: whether the MAC may be used.
pub const NEXT_HOP_INCOMPLETE: u8 = 0;
pub const NEXT_HOP_REACHABLE: u8 = 1;
/// Usable; the kernel is confirming it.
pub const NEXT_HOP_STALE: u8 = 2;
pub const NEXT_HOP_FAILED: u8 = 3;

/// Value of table `next_hops`, written by the slow path from the kernel's neighbour table.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextHopRecord {
    pub mac: [u8; 6],
    /// The Fastlane port (its index in the config's `ports`) the neighbour is reached on.
    pub port: u16,
    pub state: u8,
    pub _pad: [u8; 3],
    /// The kernel's interface index, for the record's reader to cross-check.
    pub ifindex: u32,
}

impl NextHopRecord {
    /// Whether packets may be sent to `mac` (else the kernel resolves the neighbour).
    pub fn usable(&self) -> bool {
        matches!(self.state, NEXT_HOP_REACHABLE | NEXT_HOP_STALE)
    }
}

/// `EventRecord::kind`
pub const EVENT_DOWNLINK_DATA: u8 = 1;
pub const EVENT_VOLUME_THRESHOLD: u8 = 2;
pub const EVENT_VOLUME_QUOTA: u8 = 3;
pub const EVENT_ERROR_INDICATION: u8 = 4;
/// `EventRecord::flags`
pub const EVENT_HAS_QFI: u8 = 1;

/// A message on an `events.N` channel, from the fast path to the control plane.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRecord {
    pub kind: u8,
    pub flags: u8,
    pub qfi: u8,
    pub _pad: u8,
    /// PDR id (downlink-data) or URR id (volume-*); 0 for error-indication.
    pub id: u32,
    /// 0 for error-indication.
    pub seid: u64,
    /// error-indication: the peer's F-TEID (OUTER_IPV4 / OUTER_IPV6 say which address is set).
    pub remote: OuterHeader,
    pub _pad2: u32,
}

/// A message on channel `end_markers`, from the control plane to the fast path: send a GTP-U End
/// Marker on the path a FAR left (PFCPSMReq-Flags SNDEM).
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndMarkerRecord {
    pub seid: u64,
    pub far_id: u32,
    pub _pad: u32,
    pub old_path: OuterHeader,
    pub _pad2: u32,
}

/// `session_state` cell words.
pub const SESSION_COMMITTED: usize = 0;
/// The generation whose downlink-data event was raised (plus one; 0: none yet).
pub const SESSION_NOTIFIED: usize = 1;
pub const SESSION_STATE_WORDS: usize = 2;
/// In SESSION_COMMITTED: the session exists; the low 32 bits are its published generation.
pub const SESSION_LIVE: u64 = 1 << 63;

/// `qer_state` cell words: the token buckets, as GCRA theoretical arrival times in ns.
pub const QER_UPLINK_TAT: usize = 0;
pub const QER_DOWNLINK_TAT: usize = 1;
pub const QER_STATE_WORDS: usize = 8;

/// `urr_state` cell words: exact counts, added to by every fast-path thread.
pub const URR_UPLINK_PACKETS: usize = 0;
pub const URR_UPLINK_BYTES: usize = 1;
pub const URR_DOWNLINK_PACKETS: usize = 2;
pub const URR_DOWNLINK_BYTES: usize = 3;
/// The threshold epoch whose event was raised (low 32 bits) and the quota epoch whose event was
/// raised (high 32 bits).
pub const URR_REPORTED: usize = 4;
pub const URR_STATE_WORDS: usize = 8;

/// The size of field `F` of a record, from an accessor (for `records!`).
const fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    std::mem::size_of::<F>()
}

/// Whether `fields` (offset, size) tile `size` bytes in order with no gap: no implicit padding.
const fn tiles(fields: &[(&str, usize, usize)], size: usize) -> bool {
    let mut end = 0;
    let mut i = 0;
    while i < fields.len() {
        if fields[i].1 != end {
            return false;
        }
        end += fields[i].2;
        i += 1;
    }
    end == size
}

/// A record's fields: name, offset, size.
pub type Fields = &'static [(&'static str, usize, usize)];

macro_rules! records {
    ($($t:ident = $size:expr => { $($field:ident),* $(,)? }),* $(,)?) => {
        $(
            impl $t {
                /// Every field's name, offset and size, in order.
                pub const FIELDS: Fields = &[
                    $((stringify!($field), std::mem::offset_of!($t, $field), field_size(|r: &$t| &r.$field))),*
                ];
            }
            const _: () = assert!(std::mem::size_of::<$t>() == $size);
            const _: () = assert!(tiles($t::FIELDS, $size), concat!(stringify!($t), " has implicit padding"));
        )*
        /// Every record type's name, size and fields, for the TypeScript generator.
        pub const RECORDS: &[(&str, usize, Fields)] = &[$((stringify!($t), $size, $t::FIELDS)),*];
    };
}

macro_rules! plain_records {
    ($($t:ty),* $(,)?) => {
        $(
            // SAFETY: repr(C, align(8)) of integers, integer arrays and records of them, with
            // every gap an explicit field (`records!` asserts the fields tile the size, and the
            // size is a multiple of the alignment, 8).
            unsafe impl Record for $t {}
        )*
    };
}

plain_records!(
    MatchKey,
    MatchRecord,
    RuleKey,
    SessionRecord,
    FarRecord,
    QerRecord,
    UrrRecord,
    PdrRecord,
    PdrHot,
    SdfRecord,
    NextHopKey,
    NextHopRecord,
    EventRecord,
    EndMarkerRecord,
);

records! {
    MatchKey = 24 => { kind, _pad, teid, addr },
    ChainHead = 8 => { generation, first },
    MatchRecord = 32 => { seid, slot, _pad, heads },
    RuleKey = 16 => { slot, generation, id, _pad },
    SessionRecord = 32 => { seid, slot, generation, pdrs, fars, qers, urrs, flags, bar_id, suggested_buffering_packets, _pad },
    OuterHeader = 28 => { flags, _pad, port, teid, ipv4, ipv6 },
    FarAction = 32 => { action, destination_interface, flags, _pad, outer },
    FarRecord = 72 => { far_id, flags, bar_id, network_instance_len, _pad, action, network_instance },
    QerRecord = 32 => { qer_id, cell, flags, gate, qfi, _pad, mbr_uplink_kbps, mbr_downlink_kbps },
    UrrLimits = 72 => { urr_id, cell, threshold_epoch, quota_epoch, flags, _pad, threshold_at, quota_at },
    UrrRecord = 136 => { limits, methods, triggers, flags, _pad, measurement_period_seconds, time_threshold_seconds, _pad2, threshold, quota },
    SdfRecord = 48 => { flags, protocol, ue_prefix_len, remote_prefix_len, filter_id, ue_ports, remote_ports, ue_addr, remote_addr },
    PdrHot = 280 => { seid, precedence, far_id, next, pdr_id, flags, qfi, outer_header_removal, source_interface, sdf_count, qer_count, urr_count, ue_ipv6_prefix_len, network_instance_len, _pad, far, qers, urrs },
    PdrRecord = 552 => { hot, sdf, ue_ipv4, local_fteid, ue_ipv6, network_instance },
    NextHopKey = 24 => { family, _pad, addr },
    NextHopRecord = 16 => { mac, port, state, _pad, ifindex },
    EventRecord = 48 => { kind, flags, qfi, _pad, id, seid, remote, _pad2 },
    EndMarkerRecord = 48 => { seid, far_id, _pad, old_path, _pad2 },
}
