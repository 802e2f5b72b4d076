//! AF_PACKET handed to an unprivileged process: this process (root) loads the port's socket
//! filter and creates the queue socket (ring requested, bound, filtered), and sends it over
//! SCM_RIGHTS to a child that drops to uid 65534 with no capability. The child maps the ring and
//! reflects the fast-path UDP datagrams with their MACs swapped; this process checks that every
//! one comes back. Needs root.
//!
//! A test without the libtest harness: the child is this binary again, started with
//! `FASTLANE_ADOPT_FD` naming its end of the socket pair.

// Shared with veth.rs, which uses the helpers this test does not.
#[allow(dead_code)]
mod common;

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::time::Duration;

use common::{is_udp_to, Capture, Forwarder, Testbed};
use fastlane_afpacket::{adopt_thread, export_sockets, open_port};
use fastlane_core::config::{AfPacketConfig, FilterConfig, PortMatch};
use fastlane_core::{FilterTables, QueueSpec, Split};
use fastlane_sys::{process, tpacket, unix};

const CHILD_ENV: &str = "FASTLANE_ADOPT_FD";
const NOBODY: u32 = 65534;
const FAST_PORT: u16 = 5000;
const DATAGRAMS: usize = 100;
const BED: (&str, u8) = ("flkunp", 8);

fn main() {
    match std::env::var(CHILD_ENV) {
        Ok(fd) => child(fd.parse().expect("descriptor number")),
        Err(_) => {
            parent();
            println!("test unprivileged_process_runs_af_packet_from_a_handed_socket ... ok");
        }
    }
}

fn config() -> AfPacketConfig {
    AfPacketConfig {
        block_size: 1 << 16,
        block_count: 8,
        ..AfPacketConfig::default()
    }
}

fn queues(bed: &Testbed) -> Vec<QueueSpec> {
    vec![QueueSpec {
        port: 0,
        interface: bed.fwd_veth(),
        queue: 0,
    }]
}

fn recv_message(socket: BorrowedFd<'_>, timeout: Duration) -> (Vec<u8>, Vec<OwnedFd>) {
    let mut buf = vec![0u8; 256];
    let (len, fds) = unix::recv_fds_within(socket, &mut buf, 4, timeout).expect("receive");
    buf.truncate(len);
    (buf, fds)
}

fn parent() {
    let bed = Testbed::new(BED.0, BED.1);
    let cfg = config();
    let filter = FilterTables::new(&FilterConfig {
        udp_ports: vec![PortMatch::One(FAST_PORT)],
        ..FilterConfig::default()
    });
    let (port, sockets) = bed.in_fwd(|| {
        let port = open_port(&cfg, &bed.fwd_veth(), &filter)
            .expect("open the port")
            .with_queue_count(1);
        let sockets = export_sockets(&cfg, &port, &queues(&bed)).expect("export the socket");
        (port, sockets)
    });
    assert_eq!(port.split(), Split::InKernel, "the socket filter loaded");

    let (ours, theirs) = unix::seqpacket_pair().expect("socket pair");
    unix::inherit_on_exec(&theirs).expect("let the child inherit its end");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, theirs.as_raw_fd().to_string())
        .spawn()
        .expect("start the unprivileged child");
    drop(theirs);
    unix::send_fds(&ours, b"socket", &[sockets[0].as_fd()]).expect("send the socket");
    drop(sockets);
    let (ready, _) = recv_message(ours.as_fd(), Duration::from_secs(10));
    assert_eq!(
        ready,
        b"ready",
        "child: {}",
        String::from_utf8_lossy(&ready)
    );

    let gen_mac = bed.mac(&bed.gen(), &bed.gen_veth());
    let fwd_mac = bed.mac(&bed.fwd(), &bed.fwd_veth());
    let capture = bed.in_gen(|| Capture::open(&bed.gen_veth()));
    let socket = bed.in_gen(|| UdpSocket::bind((bed.gen_addr(), 40000)).expect("bind"));
    let to = SocketAddr::from((bed.fwd_addr(), FAST_PORT));
    for i in 0..DATAGRAMS {
        socket
            .send_to(format!("datagram {i}").as_bytes(), to)
            .expect("send");
        if i % 16 == 15 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let frames = capture.frames(Duration::from_millis(500));
    let returned = frames
        .iter()
        .filter(|f| is_udp_to(f, FAST_PORT, fwd_mac, gen_mac))
        .count();

    unix::send_fds(&ours, b"stop", &[]).expect("stop the child");
    let (report, _) = recv_message(ours.as_fd(), Duration::from_secs(10));
    let report = String::from_utf8(report).unwrap();
    assert_eq!(
        returned, DATAGRAMS,
        "macswapped datagrams back; child: {report}"
    );
    assert_eq!(report, format!("received {DATAGRAMS} sent {DATAGRAMS}"));
    let status = child.wait().expect("wait for the child");
    assert!(status.success(), "child exited with {status}");
    drop(port);
}

fn fail(control: &OwnedFd, what: String) -> ! {
    let _ = unix::send_fds(control, what.as_bytes(), &[]);
    std::process::exit(1);
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
    // Proof that the socket could not have been made here.
    match tpacket::packet_socket() {
        Err(e) if e.is(libc::EPERM) => {}
        other => fail(&control, format!("socket(AF_PACKET) as nobody: {other:?}")),
    }
    let (_, fds) = recv_message(control.as_fd(), Duration::from_secs(10));
    let bed = Testbed::borrowed(BED.0, BED.1);
    let io = match adopt_thread(&config(), &queues(&bed), fds, Split::InKernel, 32) {
        Ok(io) => io,
        Err(e) => fail(&control, format!("adopt: {e}")),
    };
    let forwarder = Forwarder::start(io, None);
    unix::send_fds(&control, b"ready", &[]).expect("report ready");
    let (stop, _) = recv_message(control.as_fd(), Duration::from_secs(60));
    assert_eq!(stop, b"stop");
    let (_, counters) = forwarder.stop();
    let report = format!(
        "received {} sent {}",
        counters[0].rx_packets.get(),
        counters[0].tx_packets.get()
    );
    unix::send_fds(&control, report.as_bytes(), &[]).expect("report");
}
