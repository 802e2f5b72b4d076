//! A TAP queue handed to an unprivileged process, as a device plugin hands a pod its slow path:
//! this process (root) creates the TAP in a fresh namespace (up, with its address) and sends the
//! queue descriptor over SCM_RIGHTS to a child that drops to uid 65534 with no capability. The
//! child adopts the queue, writes an ARP request and an ICMP echo request into it and reads the
//! kernel's answers. Needs root.
//!
//! A test without the libtest harness: the child is this binary again, started with
//! `FASTLANE_ADOPT_FD` naming its end of the socket pair.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::time::{Duration, Instant};

use fastlane_sys::{process, tun, unix};
use fastlane_tap::{Tap, TapQueue, TapSpec};

const CHILD_ENV: &str = "FASTLANE_ADOPT_FD";
const NOBODY: u32 = 65534;
const TAP_MAC: [u8; 6] = [0x02, 0x46, 0x4c, 0x51, 0x00, 0x02];
const PEER_MAC: [u8; 6] = [0x02, 0x46, 0x4c, 0x51, 0x00, 0x01];
const TAP_IP: Ipv4Addr = Ipv4Addr::new(10, 81, 0, 2);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 81, 0, 1);

fn main() {
    match std::env::var(CHILD_ENV) {
        Ok(fd) => child(fd.parse().expect("descriptor number")),
        Err(_) => {
            parent();
            println!("test unprivileged_process_gets_kernel_answers_through_a_handed_tap ... ok");
        }
    }
}

/// A network namespace that exists as long as this value.
struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn recv_message(socket: BorrowedFd<'_>, timeout: Duration) -> (Vec<u8>, Vec<OwnedFd>) {
    let mut buf = vec![0u8; 256];
    let (len, fds) = unix::recv_fds_within(socket, &mut buf, 4, timeout).expect("receive");
    buf.truncate(len);
    (buf, fds)
}

fn parent() {
    let ns = Namespace(format!("flq{}", std::process::id() % 100_000));
    let status = Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()
        .expect("run ip");
    assert!(status.success(), "ip netns add {}", ns.0);
    let spec = TapSpec {
        name: "flqtap".into(),
        mac: TAP_MAC,
        addresses: vec![(IpAddr::V4(TAP_IP), 24)],
        mtu: Some(1400),
        queues: 1,
    };
    let tap = fastlane_core::netns::run_in(Some(&ns.0), || Tap::create(&spec))
        .expect("enter the namespace")
        .expect("create the TAP");
    let export = tap.export();
    assert_eq!((export.mtu, export.queues.len()), (1400, 1));

    let (ours, theirs) = unix::seqpacket_pair().expect("socket pair");
    unix::inherit_on_exec(&theirs).expect("let the child inherit its end");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, theirs.as_raw_fd().to_string())
        .spawn()
        .expect("start the unprivileged child");
    drop(theirs);
    unix::send_fds(
        &ours,
        &export.mtu.to_ne_bytes(),
        &[export.queues[0].as_fd()],
    )
    .expect("send the queue");
    // The child holds the only descriptor of the device now.
    drop(export);

    let (report, _) = recv_message(ours.as_fd(), Duration::from_secs(10));
    let report = String::from_utf8(report).unwrap();
    assert_eq!(report, "arp and echo answered", "child's report");
    let status = child.wait().expect("wait for the child");
    assert!(status.success(), "child exited with {status}");
}

fn fail(control: &OwnedFd, what: String) -> ! {
    let _ = unix::send_fds(control, what.as_bytes(), &[]);
    std::process::exit(1);
}

fn ethernet(destination: [u8; 6], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = [&destination[..], &PEER_MAC[..], &ether_type.to_be_bytes()].concat();
    frame.extend_from_slice(payload);
    frame
}

fn arp_request() -> Vec<u8> {
    let mut arp = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    arp.extend_from_slice(&PEER_MAC);
    arp.extend_from_slice(&PEER_IP.octets());
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&TAP_IP.octets());
    ethernet([0xff; 6], 0x0806, &arp)
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|pair| u32::from(pair[0]) << 8 | u32::from(*pair.get(1).unwrap_or(&0)))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo_request(id: u16) -> Vec<u8> {
    let mut icmp = [&[8u8, 0, 0, 0][..], &id.to_be_bytes(), &[0, 1], b"fastlane"].concat();
    let sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 1, 0, 0];
    ip[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&PEER_IP.octets());
    ip.extend_from_slice(&TAP_IP.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ethernet(TAP_MAC, 0x0800, &ip)
}

/// Reads the queue until a frame satisfies `wanted`; `None` after two seconds.
fn await_frame(queue: &mut TapQueue, wanted: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        let burst = queue.read_frames(64);
        if let Some(frame) = burst.iter().find(|frame| wanted(frame)) {
            return Some(frame.to_vec());
        }
        let mut pfd = libc::pollfd {
            fd: queue.fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, 100) };
    }
    None
}

fn child(fd: RawFd) {
    // SAFETY: the parent passed this end of its socket pair to this process only.
    let control = unsafe { OwnedFd::from_raw_fd(fd) };
    if let Err(e) = process::become_unprivileged(NOBODY, NOBODY) {
        fail(&control, format!("drop privileges: {e}"));
    }
    let caps = process::capability_sets().expect("read capabilities");
    if !caps.none() {
        fail(&control, format!("still privileged: {caps:?}"));
    }
    // Proof that the device could not have been made here.
    match tun::open_tun().and_then(|t| tun::attach_tap_queue(t.as_fd(), "flqown")) {
        Err(e) if e.is(libc::EPERM) => {}
        other => fail(&control, format!("TUNSETIFF as nobody: {other:?}")),
    }

    let (payload, mut fds) = recv_message(control.as_fd(), Duration::from_secs(10));
    let mtu = u32::from_ne_bytes(payload[..4].try_into().unwrap());
    let Some(fd) = fds.pop() else {
        fail(&control, "no descriptor".into())
    };
    let not_a_tap = fastlane_sys::memfd::memfd_create("not-a-tap").expect("memfd");
    match TapQueue::adopt(not_a_tap, mtu) {
        Err(e) if e.to_string().contains("TUNGETIFF") => {}
        other => fail(
            &control,
            format!("adopting a memfd as a TAP queue: {other:?}"),
        ),
    }
    let mut queue = match TapQueue::adopt(fd, mtu) {
        Ok(queue) => queue,
        Err(e) => fail(&control, format!("adopt: {e}")),
    };

    let written = queue.write_frames([arp_request().as_slice()].into_iter());
    if written.written != 1 {
        fail(&control, format!("ARP request not taken: {written:?}"));
    }
    let reply = await_frame(&mut queue, |f| {
        f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2]
    });
    match reply {
        Some(f)
            if f[22..28] == TAP_MAC && f[28..32] == TAP_IP.octets() && f[32..38] == PEER_MAC => {}
        other => fail(&control, format!("ARP answer: {other:?}")),
    }

    let id = 0x4c51;
    let written = queue.write_frames([echo_request(id).as_slice()].into_iter());
    if written.written != 1 {
        fail(&control, format!("echo request not taken: {written:?}"));
    }
    let reply = await_frame(&mut queue, |f| {
        f.len() >= 42 && f[12..14] == [0x08, 0x00] && f[23] == 1 && f[34] == 0
    });
    match reply {
        Some(f)
            if f[38..40] == id.to_be_bytes()
                && f[26..30] == TAP_IP.octets()
                && f[..6] == PEER_MAC => {}
        other => fail(&control, format!("echo answer: {other:?}")),
    }
    unix::send_fds(&control, b"arp and echo answered", &[]).expect("report");
}
