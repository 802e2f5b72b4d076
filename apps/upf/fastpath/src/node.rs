//! The GTP-U node's own messages (TS 29.281 §7): Echo Response, Error Indication, End Marker,
//! each written as a whole frame into a stack buffer.

use core::net::IpAddr;

use fastlane_wire::gtpu::{self, GtpuRepr, MessageType};

use crate::encap::{message_frame, Path, MAX_MESSAGE_FRAME};
use crate::n3::{ie, Outer};

/// The UDP Port extension header type (TS 29.281 §5.2.2.1).
const UDP_PORT_EXTENSION: u8 = 0x40;

/// The way back to the sender of a received N3 frame: Ethernet addresses swapped, IP addresses
/// swapped, to the sender's UDP port (§4.4.2.1: a response goes to the request's source port;
/// an Error Indication to 2152).
pub fn back_to_sender(frame: &[u8], outer: &Outer, dst_port: u16) -> Option<Path> {
    let macs = frame.get(..12)?;
    let mut dst_mac = [0u8; 6];
    let mut src_mac = [0u8; 6];
    dst_mac.copy_from_slice(&macs[6..12]);
    src_mac.copy_from_slice(&macs[..6]);
    Some(Path {
        dst_mac,
        src_mac,
        src: outer.local,
        dst: outer.peer,
        src_port: gtpu::PORT,
        dst_port,
    })
}

/// An Echo Response to the request with sequence number `seq`: S set, the same sequence
/// number, and a Recovery IE.
pub fn echo_response(
    out: &mut [u8; MAX_MESSAGE_FRAME],
    path: &Path,
    seq: u16,
    recovery: u8,
) -> Option<usize> {
    let header = GtpuRepr {
        message_type: MessageType::EchoResponse,
        teid: 0,
        seq_number: Some(seq),
        npdu_number: None,
        pdu_session: None,
    };
    message_frame(out, path, &header, None, &[ie::RECOVERY, recovery])
}

/// An Error Indication for a G-PDU to `teid` that arrived at `local` from UDP port
/// `peer_port`: TEID 0, S set, a UDP Port extension header with that port, TEID Data I and
/// GTP-U Peer Address (the address the G-PDU was sent to) IEs.
pub fn error_indication(
    out: &mut [u8; MAX_MESSAGE_FRAME],
    path: &Path,
    teid: u32,
    local: IpAddr,
    peer_port: u16,
) -> Option<usize> {
    let header = GtpuRepr {
        message_type: MessageType::ErrorIndication,
        teid: 0,
        seq_number: Some(0),
        npdu_number: None,
        pdu_session: None,
    };
    let mut ies = [0u8; 5 + 3 + 16];
    ies[0] = ie::TEID_DATA_I;
    ies[1..5].copy_from_slice(&teid.to_be_bytes());
    ies[5] = ie::PEER_ADDRESS;
    let len = match local {
        IpAddr::V4(a) => {
            ies[8..12].copy_from_slice(&a.octets());
            4
        }
        IpAddr::V6(a) => {
            ies[8..24].copy_from_slice(&a.octets());
            16
        }
    };
    ies[6..8].copy_from_slice(&(len as u16).to_be_bytes());
    let [hi, lo] = peer_port.to_be_bytes();
    let extension = (UDP_PORT_EXTENSION, [1, hi, lo, 0]);
    message_frame(out, path, &header, Some(extension), &ies[..8 + len])
}

/// An End Marker on the tunnel `teid` (the old path of a switched downlink tunnel).
pub fn end_marker(out: &mut [u8; MAX_MESSAGE_FRAME], path: &Path, teid: u32) -> Option<usize> {
    let header = GtpuRepr {
        message_type: MessageType::EndMarker,
        teid,
        seq_number: None,
        npdu_number: None,
        pdu_session: None,
    };
    message_frame(out, path, &header, None, &[])
}
