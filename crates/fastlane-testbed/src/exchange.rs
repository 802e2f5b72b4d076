//! A handful of frames through an AF_PACKET socket, and the test traffic that comes back.

use std::time::{Duration, Instant};

use aya::programs::ProgramError;

use crate::frame::udp_dst_port;
use fastlane_sys::tpacket::FrameSocket;

use crate::{programs, TestbedError};

/// Gap between two sent frames: a trickle, so no ring on the way overflows.
const PACE: Duration = Duration::from_millis(1);
/// Larger than any frame on an interface with a 9000-byte MTU.
const RECV_BUF: usize = 16 * 1024;

/// Whether an attach failed because the interface has an XDP program already.
pub(crate) fn already_attached(err: &ProgramError) -> bool {
    matches!(err, ProgramError::SyscallError(e)
        if matches!(e.io_error.raw_os_error(), Some(libc::EBUSY | libc::EEXIST)))
}

/// Sends `frames` out of `interface` in `netns` with an AF_PACKET socket, one every millisecond,
/// and returns the frames received on it (not our own outgoing copies) whose UDP destination
/// port is `match_udp_port`, in arrival order, once `expect` of them arrived or `timeout` passed
/// since the call.
///
/// A veth end receives frames its peer sends with `XDP_TX` or a redirect only while a native XDP
/// program is attached to it, so when `interface` has none, a pass-through program (`fl_pass`)
/// is attached for the duration of the call. If another program is attached, it must pass the
/// frames expected back.
pub fn exchange(
    netns: Option<&str>,
    interface: &str,
    frames: &[Vec<u8>],
    match_udp_port: u16,
    expect: usize,
    timeout: std::time::Duration,
) -> Result<Vec<Vec<u8>>, TestbedError> {
    let deadline = Instant::now() + timeout;
    let mut pass = programs::open()?;
    match programs::attach_native(&mut pass, programs::PASS, netns, interface) {
        Ok(()) => {}
        // Another XDP program is attached already.
        Err(TestbedError::Program { ref source, .. }) if already_attached(source) => {}
        Err(e) => return Err(e),
    }
    let received = fastlane_core::netns::run_in(netns, || {
        let ifindex = fastlane_sys::netdev::if_index(interface)
            .map_err(|e| TestbedError::sys("if_nametoindex", interface, e))?;
        let socket = FrameSocket::bind(ifindex)
            .map_err(|e| TestbedError::sys("AF_PACKET socket", interface, e))?;
        let mut received = Vec::new();
        let mut buf = vec![0u8; RECV_BUF];
        let mut collect_until = |until: Instant, received: &mut Vec<Vec<u8>>| {
            while received.len() < expect {
                let left = until.saturating_duration_since(Instant::now());
                let got = socket
                    .recv(&mut buf, left)
                    .map_err(|e| TestbedError::sys("recv (AF_PACKET)", interface, e))?;
                match got {
                    Some(len) => {
                        let frame = &buf[..len.min(buf.len())];
                        if udp_dst_port(frame) == Some(match_udp_port) {
                            received.push(frame.to_vec());
                        }
                    }
                    None if Instant::now() >= until => break,
                    None => {}
                }
            }
            Ok::<(), TestbedError>(())
        };
        for frame in frames {
            socket
                .send(frame)
                .map_err(|e| TestbedError::sys("send (AF_PACKET)", interface, e))?;
            collect_until((Instant::now() + PACE).min(deadline), &mut received)?;
        }
        collect_until(deadline, &mut received)?;
        Ok(received)
    })?;
    // The pass-through program stays attached until every reply had its chance to arrive.
    drop(pass);
    received
}
