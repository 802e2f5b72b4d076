//! Round-trip latency through a reflector: numbered frames at a low rate from an AF_PACKET
//! socket, timed against the kernel's receive timestamps of the frames that come back.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fastlane_wire::UdpPacket;

use crate::exchange::already_attached;
use crate::frame::{udp_dst_port, udp_offset};
use fastlane_sys::tpacket::FrameSocket;

use crate::{programs, TestbedError};

/// How long the last frames get to come back after the last one was sent.
const DRAIN: Duration = Duration::from_secs(1);
/// Waits shorter than this spin (zero-timeout polls): a sleep on this kind of VM overshoots by
/// a few hundred microseconds, more than the gap between two sends at 10 kpps.
const SPIN: Duration = Duration::from_millis(1);
/// The socket's receive buffer: a few thousand frames, so that a measuring thread the scheduler
/// keeps off the CPU for a while on a busy machine loses none.
const SOCKET_BUFFER: usize = 16 << 20;
/// Larger than any frame on an interface with a 9000-byte MTU.
const RECV_BUF: usize = 16 * 1024;
/// Bytes at the start of the UDP payload that carry the run's tag and the frame's number.
const STAMP_LEN: usize = 8;

const UDP_HLEN: usize = fastlane_wire::udp::HEADER_LEN;

/// Round-trip times of one measurement, in microseconds, and how many frames did not come back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyStats {
    pub sent: u64,
    pub received: u64,
    pub lost: u64,
    /// None when no frame came back.
    pub rtt: Option<RttSummary>,
}

/// Order statistics of the round-trip times, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RttSummary {
    pub min_us: f64,
    pub median_us: f64,
    /// Nearest rank: the smallest time at least 99% of the samples do not exceed.
    pub p99_us: f64,
    pub max_us: f64,
}

/// Sends `count` copies of `frame` out of `interface` in `netns`, at most `rate_pps` per second
/// (never in a burst), each numbered in the first 8 bytes of its UDP payload, and times the
/// numbered frames that come back with UDP destination port `match_udp_port`: from a
/// CLOCK_REALTIME reading just before each send to the kernel's software receive timestamp
/// (same clock) of its reflection. Late frames get one second after the last send; a frame that
/// came back twice counts once.
///
/// `frame` must be IPv4 or IPv6 UDP with at least 8 bytes of payload; its UDP checksum, if any,
/// is kept valid (a kernel UDP echo checks it). For a reflector that answers to the sender's
/// port (a UDP echo), make the frame's source port `match_udp_port`.
///
/// Like [`exchange`](crate::exchange), attaches the pass-through program `fl_pass` to
/// `interface` for the duration of the call unless an XDP program is attached already: frames
/// reflected with `XDP_TX` only enter a veth that has a native XDP program.
pub fn measure(
    netns: Option<&str>,
    interface: &str,
    frame: &[u8],
    count: u32,
    rate_pps: u64,
    match_udp_port: u16,
) -> Result<LatencyStats, TestbedError> {
    if rate_pps == 0 {
        return Err(TestbedError::ZeroRate);
    }
    let stamp_at = stamp_offset(frame).ok_or(TestbedError::BadFrame {
        len: frame.len(),
        reason: "not IPv4/IPv6 UDP with 8 bytes of payload for a sequence number",
    })?;
    // Tells this run's frames from late ones of an earlier run.
    let run_tag = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos()
        ^ std::process::id();
    let mut pass = programs::open()?;
    match programs::attach_native(&mut pass, programs::PASS, netns, interface) {
        Ok(()) => {}
        Err(TestbedError::Program { ref source, .. }) if already_attached(source) => {}
        Err(e) => return Err(e),
    }
    let rtts = fastlane_core::netns::run_in(netns, || {
        let sys_err = |call| move |e| TestbedError::sys(call, interface, e);
        let ifindex =
            fastlane_sys::netdev::if_index(interface).map_err(sys_err("if_nametoindex"))?;
        let socket = FrameSocket::bind(ifindex).map_err(sys_err("AF_PACKET socket"))?;
        socket
            .force_receive_buffer(SOCKET_BUFFER)
            .map_err(sys_err("setsockopt(SO_RCVBUFFORCE)"))?;
        socket
            .enable_rx_timestamps()
            .map_err(sys_err("setsockopt(SO_TIMESTAMPNS)"))?;
        let mut probe = Probe {
            socket: &socket,
            interface,
            match_udp_port,
            stamp_at,
            run_tag,
            sent_at: vec![None; count as usize],
            rtts: vec![None; count as usize],
            received: 0,
            buf: vec![0u8; RECV_BUF],
        };
        let mut frame = frame.to_vec();
        let interval = Duration::from_secs_f64(1.0 / rate_pps as f64);
        let mut next_send = Instant::now();
        for seq in 0..count {
            probe.collect_until(next_send)?;
            stamp(&mut frame, stamp_at, run_tag, seq);
            probe.sent_at[seq as usize] = Some(SystemTime::now());
            socket.send(&frame).map_err(sys_err("send (AF_PACKET)"))?;
            // A sender that fell behind does not catch up with a burst: bursts would queue.
            next_send = (next_send + interval).max(Instant::now());
        }
        probe.collect_until(Instant::now() + DRAIN)?;
        Ok::<_, TestbedError>(probe.rtts)
    })??;
    // The pass-through program stays attached until every reply had its chance to arrive.
    drop(pass);
    let mut rtts: Vec<Duration> = rtts.into_iter().flatten().collect();
    rtts.sort_unstable();
    let received = rtts.len() as u64;
    Ok(LatencyStats {
        sent: count.into(),
        received,
        lost: u64::from(count) - received,
        rtt: summarize(&rtts),
    })
}

/// The receiving side of a measurement.
struct Probe<'a> {
    socket: &'a FrameSocket,
    interface: &'a str,
    match_udp_port: u16,
    stamp_at: usize,
    run_tag: u32,
    sent_at: Vec<Option<SystemTime>>,
    rtts: Vec<Option<Duration>>,
    received: usize,
    buf: Vec<u8>,
}

impl Probe<'_> {
    /// Records the round trips of the frames that arrive until `until` (or until all are back).
    fn collect_until(&mut self, until: Instant) -> Result<(), TestbedError> {
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.received == self.rtts.len() {
                return Ok(());
            }
            let wait = if left > SPIN {
                left - SPIN
            } else {
                Duration::ZERO
            };
            let got = self
                .socket
                .recv_timestamped(&mut self.buf, wait)
                .map_err(|e| TestbedError::sys("recvmsg (AF_PACKET)", self.interface, e))?;
            let Some((len, stamp)) = got else { continue };
            let frame = &self.buf[..len.min(self.buf.len())];
            if udp_dst_port(frame) != Some(self.match_udp_port) {
                continue;
            }
            let Some(seq) = read_stamp(frame, self.stamp_at, self.run_tag) else {
                continue;
            };
            let (Some(Some(sent)), Some(slot)) = (
                self.sent_at.get(seq as usize),
                self.rtts.get_mut(seq as usize),
            ) else {
                continue;
            };
            let Some(received) = stamp else {
                return Err(TestbedError::sys(
                    "recvmsg (AF_PACKET, SO_TIMESTAMPNS)",
                    self.interface,
                    std::io::Error::other("a frame came without its receive timestamp"),
                ));
            };
            if slot.is_none() {
                let received = UNIX_EPOCH + received;
                // A clock step backwards between send and receive reads as 0.
                *slot = Some(received.duration_since(*sent).unwrap_or_default());
                self.received += 1;
            }
        }
    }
}

fn summarize(sorted: &[Duration]) -> Option<RttSummary> {
    let us = |d: &Duration| d.as_secs_f64() * 1e6;
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let median = if n % 2 == 1 {
        us(sorted.get(n / 2)?)
    } else {
        (us(sorted.get(n / 2 - 1)?) + us(sorted.get(n / 2)?)) / 2.0
    };
    let p99_rank = (n * 99).div_ceil(100).max(1);
    Some(RttSummary {
        min_us: us(sorted.first()?),
        median_us: median,
        p99_us: us(sorted.get(p99_rank - 1)?),
        max_us: us(sorted.last()?),
    })
}

/// Where the stamp goes: the start of the UDP payload, if the payload has room for it.
fn stamp_offset(frame: &[u8]) -> Option<usize> {
    let udp = udp_offset(frame)?;
    let at = udp + UDP_HLEN;
    let udp_len = usize::from(UdpPacket::new_unchecked(&frame[udp..]).len());
    (udp_len >= UDP_HLEN + STAMP_LEN && frame.len() >= at + STAMP_LEN).then_some(at)
}

/// Writes the run tag and `seq` at `at` and adjusts the UDP checksum for them (RFC 1624):
/// `stamp_offset` checked that both fit.
fn stamp(frame: &mut [u8], at: usize, run_tag: u32, seq: u32) {
    let Some(udp) = udp_offset(frame) else {
        return;
    };
    let mut new = [0u8; STAMP_LEN];
    new[..4].copy_from_slice(&run_tag.to_be_bytes());
    new[4..].copy_from_slice(&seq.to_be_bytes());
    let mut old = [0u8; STAMP_LEN];
    old.copy_from_slice(&frame[at..at + STAMP_LEN]);
    frame[at..at + STAMP_LEN].copy_from_slice(&new);
    // The stamp starts the UDP payload, at an even offset of the checksummed data; a zero
    // checksum ("none") stays zero.
    UdpPacket::new_unchecked(&mut frame[udp..]).update_checksum(&old, &new);
}

/// The sequence number of a frame stamped by this run, if it is one.
fn read_stamp(frame: &[u8], at: usize, run_tag: u32) -> Option<u32> {
    let bytes = frame.get(at..at + STAMP_LEN)?;
    let tag = u32::from_be_bytes(bytes[..4].try_into().ok()?);
    (tag == run_tag).then(|| u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use fastlane_wire::Ipv4Packet;

    use super::*;
    use crate::{udp_frame, UdpFrameSpec};

    fn be16(frame: &[u8], at: usize) -> Option<u16> {
        Some(u16::from_be_bytes([*frame.get(at)?, *frame.get(at + 1)?]))
    }

    fn spec(udp_checksum: bool) -> UdpFrameSpec {
        UdpFrameSpec {
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_mac: [2, 0, 0, 0, 0, 1],
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(10, 0, 0, 2),
            src_port: 9000,
            dst_port: 9000,
            udp_checksum,
        }
    }

    #[test]
    fn stamping_keeps_the_udp_checksum_what_a_fresh_build_computes() {
        for len in [60, 64, 256, 1400] {
            let mut stamped = udp_frame(&spec(true), len);
            let at = stamp_offset(&stamped).unwrap();
            assert_eq!(at, 42);
            for (tag, seq) in [(0xdead_beef, 0), (1, 1), (0x1234_5678, 0xffff_fffe)] {
                stamp(&mut stamped, at, tag, seq);
                assert_eq!(read_stamp(&stamped, at, tag), Some(seq));
                assert_eq!(read_stamp(&stamped, at, tag ^ 1), None);
                // The same payload built from scratch: the checksums must agree.
                let mut fresh = udp_frame(&spec(false), len);
                fresh[at..at + STAMP_LEN].copy_from_slice(&stamped[at..at + STAMP_LEN]);
                let sum = udp_checksum(&fresh);
                assert_eq!(be16(&stamped, 40), Some(sum), "{len} B, seq {seq}");
            }
            let mut plain = udp_frame(&spec(false), len);
            stamp(&mut plain, at, 7, 9);
            assert_eq!(be16(&plain, 40), Some(0), "no checksum stays none");
        }
    }

    /// The UDP checksum of an IPv4 frame with a 20-byte header, computed from scratch.
    fn udp_checksum(frame: &[u8]) -> u16 {
        let mut frame = frame.to_vec();
        let pseudo = Ipv4Packet::new_checked(&frame[14..])
            .unwrap()
            .pseudo_header();
        let mut udp = UdpPacket::new_checked(&mut frame[34..]).unwrap();
        udp.fill_checksum(&pseudo);
        udp.checksum()
    }

    #[test]
    fn frames_without_room_for_a_stamp_are_refused() {
        let mut runt = udp_frame(&spec(true), 60);
        // 18 bytes of payload in a 60-byte frame: shrink the UDP length below 8 + 8.
        runt[38..40].copy_from_slice(&15u16.to_be_bytes());
        assert_eq!(stamp_offset(&runt), None);
        let mut tcp = udp_frame(&spec(true), 60);
        tcp[23] = 6;
        assert_eq!(stamp_offset(&tcp), None);
        for cut in 0..50 {
            assert_eq!(stamp_offset(&udp_frame(&spec(true), 60)[..cut]), None);
        }
        let v6 = fastlane_core::wire::testing::ipv6_udp(4242, 10);
        assert_eq!(stamp_offset(&v6), Some(14 + 40 + 8));
    }

    #[test]
    fn summary_uses_nearest_ranks() {
        let us = |v: u64| Duration::from_micros(v);
        let samples: Vec<Duration> = (1..=200).map(us).collect();
        let s = summarize(&samples).unwrap();
        assert_eq!((s.min_us, s.max_us), (1.0, 200.0));
        assert_eq!(s.median_us, 100.5);
        assert_eq!(s.p99_us, 198.0);
        let one = summarize(&[us(5)]).unwrap();
        assert_eq!(
            (one.min_us, one.median_us, one.p99_us, one.max_us),
            (5.0, 5.0, 5.0, 5.0)
        );
        assert_eq!(summarize(&[]), None);
    }
}
