//! GTP-U version 1 (3GPP TS 29.281): the header, its optional fields, the extension header chain,
//! and the PDU Session Container (TS 38.415) that carries a 5G packet's QoS flow.
//!
//! ```text
//!  0: version(3)=1 PT(1)=1 spare(1) E(1) S(1) PN(1)    4: TEID (4 bytes)
//!  1: message type   2: length (bytes after the first 8)
//!  8: sequence number (2)  10: N-PDU number  11: next extension header type
//!     -- present when any of E, S, PN is set; each meaningful only when its flag is
//! 12: extension headers: [length in 4-byte units][content...][next type], until type 0
//! ```

use crate::{be16, be32, set_be16, set_be32, Error, Result};

/// The UDP port of GTP-U.
pub const PORT: u16 = 2152;
/// The mandatory part of the header.
pub const HEADER_LEN: usize = 8;
/// Sequence number, N-PDU number and next extension header type.
pub const OPTIONAL_LEN: usize = 4;

const FLAG_E: u8 = 0x04;
const FLAG_S: u8 = 0x02;
const FLAG_PN: u8 = 0x01;

crate::wire_enum! {
    /// The message types a GTP-U endpoint handles (TS 29.281 §6.1).
    pub enum MessageType(u8) {
        EchoRequest = 1,
        EchoResponse = 2,
        ErrorIndication = 26,
        SupportedExtensionHeadersNotification = 31,
        EndMarker = 254,
        /// A user packet (T-PDU) in a tunnel.
        GPdu = 255,
    }
}

crate::wire_enum! {
    /// Extension header types (TS 29.281 §5.2.1).
    pub enum ExtensionType(u8) {
        NoMore = 0x00,
        ServiceClassIndicator = 0x20,
        UdpPort = 0x40,
        RanContainer = 0x81,
        LongPdcpPduNumber = 0x82,
        XwRanContainer = 0x83,
        NrRanContainer = 0x84,
        PduSessionContainer = 0x85,
        PdcpPduNumber = 0xc0,
    }
}

/// What a receiver must do with an extension header it does not know: the type's two high bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comprehension {
    /// 00: not required; an intermediate node forwards it.
    NotRequired,
    /// 01: not required; an intermediate node discards the content.
    NotRequiredDiscard,
    /// 10: required by the endpoint receiver (a UPF terminating the tunnel), not by an
    /// intermediate node.
    RequiredByEndpoint,
    /// 11: required by every receiver.
    Required,
}

impl ExtensionType {
    #[inline]
    pub fn comprehension(self) -> Comprehension {
        match u8::from(self) >> 6 {
            0 => Comprehension::NotRequired,
            1 => Comprehension::NotRequiredDiscard,
            2 => Comprehension::RequiredByEndpoint,
            _ => Comprehension::Required,
        }
    }

    /// Whether an endpoint receiver that does not know this type must drop the packet.
    #[inline]
    pub fn comprehension_required(self) -> bool {
        u8::from(self) & 0x80 != 0
    }
}

/// A view over a GTP-U message (the UDP payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GtpuPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GtpuPacket<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        GtpuPacket { buffer }
    }

    /// Checks, in this order: the 8-byte header present (`Truncated`); version 1 and protocol
    /// type 1 (`Version`); the message of the declared length present (`Truncated`); the
    /// optional fields and every extension header within the declared length, none of zero
    /// length (`Malformed`). After it no accessor panics and [`payload`](Self::payload) is the
    /// T-PDU.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let p = GtpuPacket { buffer };
        if p.version() != 1 || !p.protocol_type() {
            return Err(Error::Version);
        }
        if p.message_len() > len {
            return Err(Error::Truncated);
        }
        p.walk_header_len()?;
        Ok(p)
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 5
    }

    /// PT: true for GTP, false for GTP'.
    #[inline]
    pub fn protocol_type(&self) -> bool {
        self.buffer.as_ref()[0] & 0x10 != 0
    }

    /// E: an extension header follows.
    #[inline]
    pub fn has_extension(&self) -> bool {
        self.buffer.as_ref()[0] & FLAG_E != 0
    }

    /// S: the sequence number is meaningful.
    #[inline]
    pub fn has_seq_number(&self) -> bool {
        self.buffer.as_ref()[0] & FLAG_S != 0
    }

    /// PN: the N-PDU number is meaningful.
    #[inline]
    pub fn has_npdu_number(&self) -> bool {
        self.buffer.as_ref()[0] & FLAG_PN != 0
    }

    /// Whether the four optional bytes are present (any of E, S, PN).
    #[inline]
    pub fn has_optional_fields(&self) -> bool {
        self.buffer.as_ref()[0] & (FLAG_E | FLAG_S | FLAG_PN) != 0
    }

    #[inline]
    pub fn message_type(&self) -> MessageType {
        MessageType::from(self.buffer.as_ref()[1])
    }

    /// The length field: the bytes after the mandatory header.
    #[inline]
    pub fn length(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }

    /// The whole message's length: the mandatory header and `length()`.
    #[inline]
    pub fn message_len(&self) -> usize {
        HEADER_LEN + self.length() as usize
    }

    #[inline]
    pub fn teid(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }

    #[inline]
    pub fn seq_number(&self) -> Option<u16> {
        self.has_seq_number().then(|| be16(self.buffer.as_ref(), 8))
    }

    #[inline]
    pub fn npdu_number(&self) -> Option<u8> {
        self.has_npdu_number().then(|| self.buffer.as_ref()[10])
    }

    /// The type of the first extension header (`NoMore` without the E flag).
    #[inline]
    pub fn next_extension_type(&self) -> ExtensionType {
        if self.has_extension() {
            ExtensionType::from(self.buffer.as_ref()[11])
        } else {
            ExtensionType::NoMore
        }
    }

    /// The extension headers, in order. On a checked packet every item is `Ok`.
    #[inline]
    pub fn extension_headers(&self) -> ExtensionHeaders<'_> {
        let b = self.buffer.as_ref();
        let end = self.message_len().min(b.len());
        let start = (HEADER_LEN + OPTIONAL_LEN).min(end);
        ExtensionHeaders {
            rest: &b[start..end],
            next: self.next_extension_type(),
            failed: false,
        }
    }

    /// The PDU Session Container, if the chain has one (and it is well-formed).
    #[inline]
    pub fn pdu_session(&self) -> Option<PduSession<'_>> {
        self.extension_headers()
            .map_while(|h| h.ok())
            .find_map(|h| h.pdu_session())
    }

    fn walk_header_len(&self) -> Result<usize> {
        if !self.has_optional_fields() {
            return Ok(HEADER_LEN);
        }
        let end = self.message_len();
        if HEADER_LEN + OPTIONAL_LEN > end {
            return Err(Error::Malformed);
        }
        let mut walk = self.extension_headers();
        for header in &mut walk {
            header?;
        }
        Ok(end - walk.rest.len())
    }

    /// The header's length: mandatory part, optional fields and extension headers. On an
    /// unchecked packet with a broken chain, the message's length.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.walk_header_len().unwrap_or(self.message_len())
    }

    /// The bytes after the header up to the declared length: the T-PDU of a G-PDU, the
    /// information elements of other messages.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = self.message_len().min(b.len());
        &b[self.header_len().min(end)..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GtpuPacket<T> {
    /// Sets version 1, protocol type GTP and the E, S and PN flags.
    #[inline]
    pub fn set_flags(&mut self, extension: bool, seq_number: bool, npdu_number: bool) {
        self.buffer.as_mut()[0] = 0x30
            | if extension { FLAG_E } else { 0 }
            | if seq_number { FLAG_S } else { 0 }
            | if npdu_number { FLAG_PN } else { 0 };
    }

    #[inline]
    pub fn set_message_type(&mut self, message_type: MessageType) {
        self.buffer.as_mut()[1] = message_type.into();
    }

    #[inline]
    pub fn set_length(&mut self, length: u16) {
        set_be16(self.buffer.as_mut(), 2, length);
    }

    #[inline]
    pub fn set_teid(&mut self, teid: u32) {
        set_be32(self.buffer.as_mut(), 4, teid);
    }

    /// Writes the sequence number field (the buffer must hold the optional fields).
    #[inline]
    pub fn set_seq_number(&mut self, seq: u16) {
        set_be16(self.buffer.as_mut(), 8, seq);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.message_len().min(self.buffer.as_ref().len());
        let start = self.header_len().min(end);
        &mut self.buffer.as_mut()[start..end]
    }
}

impl<'a> GtpuPacket<&'a [u8]> {
    /// [`payload`](GtpuPacket::payload), borrowed from the buffer rather than from the view.
    #[inline]
    pub fn into_payload(self) -> &'a [u8] {
        let end = self.message_len().min(self.buffer.len());
        &self.buffer[self.header_len().min(end)..end]
    }
}

/// One extension header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionHeader<'a> {
    pub kind: ExtensionType,
    /// The bytes between the length byte and the next-type byte.
    pub content: &'a [u8],
    /// The type of the header after this one (`NoMore` at the end).
    pub next: ExtensionType,
}

impl<'a> ExtensionHeader<'a> {
    /// See [`ExtensionType::comprehension_required`].
    #[inline]
    pub fn comprehension_required(&self) -> bool {
        self.kind.comprehension_required()
    }

    /// The PDU Session Container's fields, if this is one with at least its two octets.
    #[inline]
    pub fn pdu_session(&self) -> Option<PduSession<'a>> {
        (self.kind == ExtensionType::PduSessionContainer && self.content.len() >= 2).then_some(
            PduSession {
                content: self.content,
            },
        )
    }
}

/// Iterates a message's extension headers; yields `Err(Malformed)` once (and then ends) on a
/// zero length or a header past the message's declared length.
#[derive(Debug, Clone)]
pub struct ExtensionHeaders<'a> {
    rest: &'a [u8],
    next: ExtensionType,
    failed: bool,
}

impl<'a> Iterator for ExtensionHeaders<'a> {
    type Item = Result<ExtensionHeader<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.next == ExtensionType::NoMore {
            return None;
        }
        let len = self.rest.first().map_or(0, |&units| usize::from(units) * 4);
        if len == 0 || len > self.rest.len() {
            self.failed = true;
            return Some(Err(Error::Malformed));
        }
        let (header, rest) = self.rest.split_at(len);
        let item = ExtensionHeader {
            kind: self.next,
            content: &header[1..len - 1],
            next: ExtensionType::from(header[len - 1]),
        };
        self.next = item.next;
        self.rest = rest;
        Some(Ok(item))
    }
}

crate::wire_enum! {
    /// The PDU Session Container's PDU type (TS 38.415 §5.5.3.1).
    pub enum PduType(u8) {
        /// DL PDU SESSION INFORMATION: sent by the UPF towards the gNB.
        Downlink = 0,
        /// UL PDU SESSION INFORMATION: received from the gNB.
        Uplink = 1,
    }
}

/// The fields of a PDU Session Container (TS 38.415 §5.5.2), over its content bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PduSession<'a> {
    content: &'a [u8],
}

impl<'a> PduSession<'a> {
    #[inline]
    pub fn pdu_type(&self) -> PduType {
        PduType::from(self.content[0] >> 4)
    }

    /// The QoS flow identifier (6 bits).
    #[inline]
    pub fn qfi(&self) -> u8 {
        self.content[1] & 0x3f
    }

    /// QMP: a sending timestamp follows (both directions).
    #[inline]
    pub fn qmp(&self) -> bool {
        self.content[0] & 0x08 != 0
    }

    /// Downlink: the paging policy presence flag (PPP).
    #[inline]
    pub fn ppp(&self) -> Option<bool> {
        (self.pdu_type() == PduType::Downlink).then(|| self.content[1] & 0x80 != 0)
    }

    /// Downlink: the reflective QoS indication (RQI).
    #[inline]
    pub fn rqi(&self) -> Option<bool> {
        (self.pdu_type() == PduType::Downlink).then(|| self.content[1] & 0x40 != 0)
    }

    /// Downlink with PPP: the paging policy indicator (3 bits).
    #[inline]
    pub fn ppi(&self) -> Option<u8> {
        match (self.ppp(), self.content.get(2)) {
            (Some(true), Some(&b)) => Some(b >> 5),
            _ => None,
        }
    }

    /// The content bytes, for fields not named here.
    #[inline]
    pub fn content(&self) -> &'a [u8] {
        self.content
    }
}

/// A PDU Session Container to write: what a UPF puts on downlink (and a gNB on uplink).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PduSessionRepr {
    pub pdu_type: PduType,
    pub qfi: u8,
    /// Downlink only.
    pub rqi: bool,
    /// Downlink only: a paging policy indicator (sets PPP).
    pub ppi: Option<u8>,
}

impl PduSessionRepr {
    #[inline]
    pub fn parse(session: &PduSession<'_>) -> Self {
        PduSessionRepr {
            pdu_type: session.pdu_type(),
            qfi: session.qfi(),
            rqi: session.rqi().unwrap_or(false),
            ppi: session.ppi(),
        }
    }

    /// The extension header's length: 4 bytes, or 8 with a PPI.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.downlink_ppi().is_some() {
            8
        } else {
            4
        }
    }

    fn downlink_ppi(&self) -> Option<u8> {
        self.ppi.filter(|_| self.pdu_type == PduType::Downlink)
    }

    /// Writes the extension header, ending the chain, into `buf[..header_len()]`.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) {
        let len = self.header_len();
        let b = &mut buf[..len];
        b.fill(0);
        b[0] = (len / 4) as u8;
        b[1] = u8::from(self.pdu_type) << 4;
        let downlink = self.pdu_type == PduType::Downlink;
        let ppp = self.downlink_ppi().is_some();
        b[2] = (self.qfi & 0x3f)
            | if ppp { 0x80 } else { 0 }
            | if downlink && self.rqi { 0x40 } else { 0 };
        if let Some(ppi) = self.downlink_ppi() {
            b[3] = ppi << 5;
        }
        b[len - 1] = ExtensionType::NoMore.into();
    }
}

/// A GTP-U header, to be written (encapsulation) or as parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GtpuRepr {
    pub message_type: MessageType,
    pub teid: u32,
    pub seq_number: Option<u16>,
    pub npdu_number: Option<u8>,
    /// The one extension header this crate writes.
    pub pdu_session: Option<PduSessionRepr>,
}

impl GtpuRepr {
    /// The header of a checked packet; extension headers other than the PDU Session Container
    /// are not kept.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &GtpuPacket<T>) -> Self {
        GtpuRepr {
            message_type: packet.message_type(),
            teid: packet.teid(),
            seq_number: packet.seq_number(),
            npdu_number: packet.npdu_number(),
            pdu_session: packet.pdu_session().map(|s| PduSessionRepr::parse(&s)),
        }
    }

    /// The length `emit` writes.
    #[inline]
    pub fn header_len(&self) -> usize {
        let optional =
            self.seq_number.is_some() || self.npdu_number.is_some() || self.pdu_session.is_some();
        HEADER_LEN
            + if optional { OPTIONAL_LEN } else { 0 }
            + self.pdu_session.map_or(0, |s| s.header_len())
    }

    /// Writes the header for `payload_len` bytes of payload into the first `header_len()` bytes.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut GtpuPacket<T>, payload_len: u16) {
        let header_len = self.header_len();
        packet.set_flags(
            self.pdu_session.is_some(),
            self.seq_number.is_some(),
            self.npdu_number.is_some(),
        );
        packet.set_message_type(self.message_type);
        packet.set_length(payload_len.saturating_add((header_len - HEADER_LEN) as u16));
        packet.set_teid(self.teid);
        if header_len > HEADER_LEN {
            let b = packet.buffer.as_mut();
            set_be16(b, 8, self.seq_number.unwrap_or(0));
            b[10] = self.npdu_number.unwrap_or(0);
            b[11] = match self.pdu_session {
                Some(_) => ExtensionType::PduSessionContainer.into(),
                None => ExtensionType::NoMore.into(),
            };
            if let Some(session) = self.pdu_session {
                session.emit(&mut b[HEADER_LEN + OPTIONAL_LEN..]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    /// A G-PDU as a gNB sends it: E set, a UL PDU Session Container with QFI 9, a 4-byte T-PDU.
    const UPLINK: [u8; 20] = [
        0x34, 0xff, 0x00, 0x0c, 0x12, 0x34, 0x56, 0x78, // flags E, G-PDU, length 12, TEID
        0x00, 0x00, 0x00, 0x85, // seq, N-PDU, next: PDU Session Container
        0x01, 0x10, 0x09, 0x00, // length 1, UL, QFI 9, no more
        0x45, 0x00, 0x00, 0x00, // T-PDU
    ];

    #[test]
    fn an_uplink_gpdu_parses_with_its_qfi() {
        let p = GtpuPacket::new_checked(&UPLINK[..]).unwrap();
        assert_eq!(
            (p.version(), p.message_type(), p.teid()),
            (1, MessageType::GPdu, 0x1234_5678)
        );
        assert!(p.has_extension() && !p.has_seq_number() && !p.has_npdu_number());
        assert_eq!((p.seq_number(), p.npdu_number()), (None, None));
        assert_eq!(p.next_extension_type(), ExtensionType::PduSessionContainer);
        assert_eq!(p.header_len(), 16);
        assert_eq!(p.payload(), &[0x45, 0, 0, 0]);
        let headers: Vec<_> = p.extension_headers().collect::<Result<_>>().unwrap();
        assert_eq!(headers.len(), 1);
        assert!(headers[0].comprehension_required());
        let s = p.pdu_session().unwrap();
        assert_eq!((s.pdu_type(), s.qfi()), (PduType::Uplink, 9));
        assert_eq!((s.rqi(), s.ppp(), s.ppi()), (None, None, None));
    }

    #[test]
    fn a_downlink_header_emits_and_parses_back() {
        for (seq, ppi) in [(None, None), (Some(7), Some(5)), (Some(0xfffe), None)] {
            let repr = GtpuRepr {
                message_type: MessageType::GPdu,
                teid: 0xdead_beef,
                seq_number: seq,
                npdu_number: None,
                pdu_session: Some(PduSessionRepr {
                    pdu_type: PduType::Downlink,
                    qfi: 5,
                    rqi: true,
                    ppi,
                }),
            };
            let len = repr.header_len();
            let mut b = std::vec![0u8; len + 3];
            b[len..].copy_from_slice(&[1, 2, 3]);
            repr.emit(&mut GtpuPacket::new_unchecked(&mut b[..]), 3);
            let p = GtpuPacket::new_checked(&b[..]).unwrap();
            assert_eq!(GtpuRepr::parse(&p), repr);
            assert_eq!(p.payload(), &[1, 2, 3]);
            assert_eq!(p.length() as usize, len - HEADER_LEN + 3);
            let s = p.pdu_session().unwrap();
            assert_eq!((s.rqi(), s.ppi()), (Some(true), ppi));
        }
        // Without optional fields: the 8-byte header.
        let plain = GtpuRepr {
            message_type: MessageType::EndMarker,
            teid: 1,
            seq_number: None,
            npdu_number: None,
            pdu_session: None,
        };
        let mut b = [0u8; 8];
        plain.emit(&mut GtpuPacket::new_unchecked(&mut b[..]), 0);
        assert_eq!(b, [0x30, 254, 0, 0, 0, 0, 0, 1]);
    }

    #[test]
    fn unknown_extension_headers_are_kept_with_their_comprehension_bits() {
        // E + S: seq 0x0102, next 0xc0 (PDCP PDU number, required), then 0x7f (unknown, not
        // required), 8 bytes long, then a PDU Session Container.
        let b = [
            0x36, 0xff, 0x00, 0x14, 0, 0, 0, 1, 0x01, 0x02, 0x00, 0xc0, //
            0x01, 0xaa, 0xbb, 0x7f, //
            0x02, 1, 2, 3, 4, 5, 6, 0x85, //
            0x01, 0x00, 0x41, 0x00,
        ];
        let p = GtpuPacket::new_checked(&b[..]).unwrap();
        assert_eq!(p.seq_number(), Some(0x0102));
        let h: Vec<_> = p.extension_headers().map(|h| h.unwrap()).collect();
        assert_eq!(h[0].kind, ExtensionType::PdcpPduNumber);
        assert_eq!(h[0].content, &[0xaa, 0xbb]);
        assert_eq!(h[0].kind.comprehension(), Comprehension::Required);
        assert_eq!(h[1].kind, ExtensionType::Unknown(0x7f));
        assert_eq!(h[1].kind.comprehension(), Comprehension::NotRequiredDiscard);
        assert!(!h[1].comprehension_required());
        assert_eq!(h[1].content, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(h[2].kind.comprehension(), Comprehension::RequiredByEndpoint);
        let s = h[2].pdu_session().unwrap();
        assert_eq!(
            (s.pdu_type(), s.qfi(), s.rqi()),
            (PduType::Downlink, 1, Some(true))
        );
        assert!(p.payload().is_empty());
    }

    #[test]
    fn malformed_messages_are_refused_by_reason() {
        let ok = UPLINK;
        assert_eq!(
            GtpuPacket::new_checked(&ok[..7]).unwrap_err(),
            Error::Truncated
        );
        assert_eq!(
            GtpuPacket::new_checked(&ok[..19]).unwrap_err(),
            Error::Truncated
        );
        let mut v = ok;
        v[0] = 0x54; // version 2
        assert_eq!(GtpuPacket::new_checked(&v[..]).unwrap_err(), Error::Version);
        v[0] = 0x24; // GTP'
        assert_eq!(GtpuPacket::new_checked(&v[..]).unwrap_err(), Error::Version);
        let mut zero = ok;
        zero[12] = 0; // zero-length extension header
        assert_eq!(
            GtpuPacket::new_checked(&zero[..]).unwrap_err(),
            Error::Malformed
        );
        let mut long = ok;
        long[12] = 3; // past the declared length
        assert_eq!(
            GtpuPacket::new_checked(&long[..]).unwrap_err(),
            Error::Malformed
        );
        let mut short = ok;
        short[2..4].copy_from_slice(&2u16.to_be_bytes()); // optional fields past the length
        assert_eq!(
            GtpuPacket::new_checked(&short[..]).unwrap_err(),
            Error::Malformed
        );
        // Unchecked views of broken chains still answer without panicking.
        let p = GtpuPacket::new_unchecked(&long[..]);
        assert_eq!(p.header_len(), p.message_len());
        assert!(p.payload().is_empty());
        assert_eq!(p.pdu_session(), None);
    }

    #[test]
    fn no_prefix_or_byte_flip_panics() {
        for cut in 0..=UPLINK.len() {
            if let Ok(p) = GtpuPacket::new_checked(&UPLINK[..cut]) {
                let _ = (p.payload(), p.pdu_session(), p.extension_headers().count());
            }
        }
        for i in 0..UPLINK.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = UPLINK;
                b[i] = v;
                if let Ok(p) = GtpuPacket::new_checked(&b[..]) {
                    let _ = GtpuRepr::parse(&p);
                    assert!(p.extension_headers().all(|h| h.is_ok()));
                    assert!(p.header_len() <= p.message_len());
                }
            }
        }
    }
}
