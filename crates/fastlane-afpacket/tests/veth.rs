//! The AF_PACKET backend on a veth pair between two namespaces (these tests need root).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use common::{is_port_unreachable, is_udp_to, Capture, Forwarder, Testbed};
use fastlane_afpacket::{
    open_port, open_thread, AfPacketError, AfPacketPort, AfPacketThread, SplitMechanism,
};
use fastlane_core::config::{AfPacketConfig, FanoutMode, FilterConfig, PortMatch};
use fastlane_core::{Batch, DropReason, FilterTables, QueueCounters, QueueSpec, Split, ThreadIo};
use fastlane_xdp::tcx_ingress_programs;

const FAST_PORT: u16 = 5000;

fn filter() -> Box<FilterTables> {
    FilterTables::new(&FilterConfig {
        udp_ports: vec![PortMatch::One(FAST_PORT)],
        ..FilterConfig::default()
    })
}

fn config(suppress_kernel: bool) -> AfPacketConfig {
    AfPacketConfig {
        // Small rings: several per test run at once.
        block_size: 1 << 16,
        block_count: 8,
        suppress_kernel,
        ..AfPacketConfig::default()
    }
}

fn queues(bed: &Testbed, count: u16) -> Vec<QueueSpec> {
    (0..count)
        .map(|queue| QueueSpec {
            port: 0,
            interface: bed.fwd_veth(),
            queue,
        })
        .collect()
}

/// Opens the port and a thread serving `count` queues of it, in the forwarder's namespace.
fn open(bed: &Testbed, cfg: &AfPacketConfig, count: u16) -> (AfPacketPort, Forwarder) {
    bed.in_fwd(|| {
        let port = open_port(cfg, &bed.fwd_veth(), &filter()).expect("open the port");
        let io = open_thread(cfg, &[&port], &queues(bed, count), 32).expect("open the thread");
        (port, Forwarder::start(io, None))
    })
}

/// Sends `count` datagrams to the forwarder's fast port from `flows` source ports.
fn send_udp(bed: &Testbed, count: usize, flows: u16) {
    let sockets: Vec<UdpSocket> = bed.in_gen(|| {
        (0..flows)
            .map(|f| UdpSocket::bind((bed.gen_addr(), 40000 + f)).expect("bind"))
            .collect()
    });
    let to = SocketAddr::from((bed.fwd_addr(), FAST_PORT));
    for i in 0..count {
        let payload = format!("fastlane datagram {i}");
        sockets[i % sockets.len()]
            .send_to(payload.as_bytes(), to)
            .expect("send");
        if i % 16 == 15 {
            // Below the veth backlog and the generator's socket buffer.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn sum(counters: &[QueueCounters], get: impl Fn(&QueueCounters) -> u64) -> u64 {
    counters.iter().map(get).sum()
}

fn no_drops(counters: &[QueueCounters]) {
    for c in counters {
        for reason in DropReason::ALL {
            assert_eq!(c.dropped(reason), 0, "dropped for {}", reason.name());
        }
    }
}

fn tcx_programs(bed: &Testbed) -> u32 {
    bed.in_fwd(|| tcx_ingress_programs(&bed.fwd_veth()))
        .expect("query TCX")
}

#[test]
fn udp_comes_back_macswapped_while_ping_and_tcp_reach_the_kernel() {
    let bed = Testbed::new("flkmac", 1);
    let cfg = config(true);
    let (port, forwarder) = open(&bed, &cfg, 1);
    assert_eq!(
        port.mechanism(),
        SplitMechanism::SocketFilter { suppressed: true }
    );
    assert_eq!(port.split(), Split::InKernel);
    assert_eq!(tcx_programs(&bed), 1);
    let gen_mac = bed.mac(&bed.gen(), &bed.gen_veth());
    let fwd_mac = bed.mac(&bed.fwd(), &bed.fwd_veth());

    // The slow path: the kernel answers ARP and ping, and serves TCP.
    assert!(bed.ping(3), "ping through the AF_PACKET forwarder failed");
    let listener = bed.in_fwd(|| TcpListener::bind((bed.fwd_addr(), 7000)).expect("listen"));
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 5];
        conn.read_exact(&mut buf).expect("read");
        conn.write_all(&buf).expect("echo");
    });
    let mut client = bed
        .in_gen(|| TcpStream::connect((bed.fwd_addr(), 7000)))
        .expect("connect over TCP");
    client.write_all(b"hello").unwrap();
    let mut echo = [0u8; 5];
    client.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"hello");
    server.join().unwrap();
    assert_eq!(
        forwarder.counters[0].rx_packets.get(),
        0,
        "the socket filter let slow-path frames in"
    );

    // The fast path.
    const N: usize = 200;
    let no_ports = bed.fwd_udp_stat("NoPorts");
    let capture = bed.in_gen(|| Capture::open(&bed.gen_veth()));
    send_udp(&bed, N, 1);
    assert!(
        forwarder.wait_for(Duration::from_secs(5), |c| c[0].tx_packets.get()
            >= N as u64)
    );
    let frames = capture.frames(Duration::from_millis(300));
    let returned = frames
        .iter()
        .filter(|f| is_udp_to(f, FAST_PORT, fwd_mac, gen_mac))
        .count();
    let unreachable = frames
        .iter()
        .filter(|f| is_port_unreachable(f, fwd_mac))
        .count();
    let (io, counters) = forwarder.stop();
    assert_eq!(returned, N, "macswapped datagrams back at the generator");
    assert_eq!(unreachable, 0, "the kernel answered fast-path UDP");
    assert_eq!(bed.fwd_udp_stat("NoPorts"), no_ports);
    let c = &counters[0];
    assert_eq!(
        (
            c.rx_packets.get(),
            c.tx_packets.get(),
            c.rx_batches.get() > 0
        ),
        (N as u64, N as u64, true)
    );
    assert_eq!(c.rx_bytes.get(), c.tx_bytes.get());
    no_drops(&counters);
    assert_eq!(kernel_statistics(&io), vec![N as u64]);

    drop(io);
    drop(port);
    assert_eq!(tcx_programs(&bed), 0, "the tc program outlived its port");
    let link = common::ip(&[
        "-n",
        &bed.fwd(),
        "-d",
        "link",
        "show",
        "dev",
        &bed.fwd_veth(),
    ]);
    assert!(!link.contains("prog/xdp"), "{link}");
}

/// The frames each queue's socket took in, by the kernel's count; checks that it dropped none.
fn kernel_statistics(io: &AfPacketThread) -> Vec<u64> {
    (0..io.queues().len())
        .map(|q| {
            let stats = io.stats_reader(q).read().expect("PACKET_STATISTICS");
            assert_eq!((stats.drops, stats.freeze_q_cnt), (0, 0), "queue {q}");
            stats.packets
        })
        .collect()
}

#[test]
fn without_suppression_the_kernel_also_answers_fast_path_udp() {
    let bed = Testbed::new("flkicm", 2);
    let (port, forwarder) = open(&bed, &config(false), 1);
    assert_eq!(
        port.mechanism(),
        SplitMechanism::SocketFilter { suppressed: false }
    );
    assert_eq!(tcx_programs(&bed), 0);
    assert!(bed.ping(1));
    let gen_mac = bed.mac(&bed.gen(), &bed.gen_veth());
    let fwd_mac = bed.mac(&bed.fwd(), &bed.fwd_veth());
    const N: usize = 50;
    let no_ports = bed.fwd_udp_stat("NoPorts");
    let capture = bed.in_gen(|| Capture::open(&bed.gen_veth()));
    send_udp(&bed, N, 1);
    assert!(
        forwarder.wait_for(Duration::from_secs(5), |c| c[0].tx_packets.get()
            >= N as u64)
    );
    let frames = capture.frames(Duration::from_millis(300));
    let (_io, counters) = forwarder.stop();
    let returned = frames
        .iter()
        .filter(|f| is_udp_to(f, FAST_PORT, fwd_mac, gen_mac))
        .count();
    assert_eq!(returned, N);
    assert_eq!(counters[0].rx_packets.get(), N as u64);
    // The kernel got every datagram too, found no socket, and answered (rate-limited).
    assert_eq!(bed.fwd_udp_stat("NoPorts") - no_ports, N as u64);
    assert!(frames.iter().any(|f| is_port_unreachable(f, fwd_mac)));
}

#[test]
fn the_queues_of_a_fanout_group_share_the_flows() {
    let bed = Testbed::new("flkfan", 3);
    let cfg = AfPacketConfig {
        fanout: FanoutMode::Hash,
        ..config(true)
    };
    let (_port, forwarder) = open(&bed, &cfg, 2);
    assert!(bed.ping(1));
    const N: usize = 256;
    send_udp(&bed, N, 64);
    assert!(forwarder.wait_for(Duration::from_secs(5), |c| {
        sum(c, |q| q.tx_packets.get()) >= N as u64
    }));
    let (io, counters) = forwarder.stop();
    let rx: Vec<u64> = counters.iter().map(|q| q.rx_packets.get()).collect();
    assert!(rx.iter().all(|&n| n > 0), "a queue got nothing: {rx:?}");
    assert_eq!(rx.iter().sum::<u64>(), N as u64, "{rx:?}");
    assert_eq!(sum(&counters, |q| q.tx_packets.get()), N as u64);
    no_drops(&counters);
    assert_eq!(kernel_statistics(&io), rx);
}

#[test]
fn errors_name_the_interface_and_the_problem() {
    let bed = Testbed::new("flkerr", 5);
    let cfg = config(true);
    let missing = bed
        .in_fwd(|| open_port(&cfg, "flkerr9", &filter()))
        .unwrap_err();
    assert!(
        matches!(missing, AfPacketError::NoSuchInterface { .. }),
        "{missing}"
    );
    assert!(missing.to_string().starts_with("flkerr9: "), "{missing}");

    let port = bed
        .in_fwd(|| open_port(&cfg, &bed.fwd_veth(), &filter()))
        .expect("open the port");
    let odd = AfPacketConfig {
        block_size: 5000,
        ..cfg.clone()
    };
    for (cfg, queues, expected) in [
        (&odd, queues(&bed, 1), "block_size 5000"),
        (&cfg, vec![], "at least one queue"),
        (
            &cfg,
            vec![QueueSpec {
                port: 1,
                interface: "lo".to_string(),
                queue: 0,
            }],
            "no port was opened for that interface",
        ),
    ] {
        let err = bed
            .in_fwd(|| open_thread(cfg, &[&port], &queues, 32))
            .unwrap_err();
        assert!(matches!(err, AfPacketError::Config(_)), "{err}");
        assert!(err.to_string().contains(expected), "{err}");
    }
}

/// Set in the child process of the next test: the test bed to use.
const UNPRIVILEGED_IN: &str = "FLK_UNPRIVILEGED_IN";

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Clears CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_PERFMON and CAP_BPF from the calling thread's
/// effective set (capabilities are per thread); CAP_NET_RAW stays.
fn drop_bpf_capabilities() {
    let mut header = CapHeader {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget writes two CapData for version 3, into `data`.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    assert_eq!(rc, 0, "capget: {}", std::io::Error::last_os_error());
    data[0].effective &= !(1 << 12 | 1 << 21); // CAP_NET_ADMIN, CAP_SYS_ADMIN
    data[1].effective &= !(1 << (38 - 32) | 1 << (39 - 32)); // CAP_PERFMON, CAP_BPF
                                                             // SAFETY: capset reads the header and two CapData.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    assert_eq!(rc, 0, "capset: {}", std::io::Error::last_os_error());
}

/// The child's half of the next test, in the parent's test bed.
fn unprivileged_child(name: &str) {
    let bed = Testbed::borrowed(name, 4);
    let (refused, port, io) = bed.in_fwd(|| {
        drop_bpf_capabilities();
        let refused = open_port(&config(true), &bed.fwd_veth(), &filter()).unwrap_err();
        let cfg = config(false);
        let port = open_port(&cfg, &bed.fwd_veth(), &filter()).expect("open without BPF");
        let io = open_thread(&cfg, &[&port], &queues(&bed, 1), 32)
            .expect("open sockets with CAP_NET_RAW alone");
        (refused, port, io)
    });
    assert!(
        matches!(refused, AfPacketError::SuppressNeedsPrivilege { .. }),
        "{refused}"
    );
    let text = refused.to_string();
    for needed in ["CAP_BPF", "CAP_NET_ADMIN", "suppress_kernel to false"] {
        assert!(text.contains(needed), "{needed} missing from: {text}");
    }
    assert_eq!(port.mechanism(), SplitMechanism::UserSpace);
    assert_eq!(io.split(), Split::Shared);

    let forwarder = Forwarder::start(io, Some(filter()));
    // The kernel gets every frame (and answers ping); the sockets get a copy of each too.
    assert!(bed.ping(2));
    let pings = forwarder.counters[0].rx_packets.get();
    assert!(pings >= 2, "the sockets saw {pings} frames of the ping");
    let gen_mac = bed.mac(&bed.gen(), &bed.gen_veth());
    let fwd_mac = bed.mac(&bed.fwd(), &bed.fwd_veth());
    let capture = bed.in_gen(|| Capture::open(&bed.gen_veth()));
    const N: usize = 50;
    send_udp(&bed, N, 1);
    assert!(
        forwarder.wait_for(Duration::from_secs(5), |c| c[0].tx_packets.get()
            >= N as u64)
    );
    let frames = capture.frames(Duration::from_millis(300));
    let (_io, counters) = forwarder.stop();
    let returned = frames
        .iter()
        .filter(|f| is_udp_to(f, FAST_PORT, fwd_mac, gen_mac))
        .count();
    assert_eq!(returned, N);
    // Slow frames were left to the kernel: only the fast ones went back out.
    assert_eq!(counters[0].tx_packets.get(), N as u64);
    assert!(counters[0].rx_packets.get() >= pings + N as u64);
    no_drops(&counters);
    println!("unprivileged checks passed");
}

#[test]
fn without_bpf_privilege_the_split_is_shared_and_suppression_is_refused() {
    if let Ok(name) = std::env::var(UNPRIVILEGED_IN) {
        unprivileged_child(&name);
        return;
    }
    // A child process: a thread without CAP_BPF loading programs could leave aya's cached probe
    // of kernel features wrong for the other tests of this process.
    let bed = Testbed::new("flkcap", 4);
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "without_bpf_privilege_the_split_is_shared_and_suppression_is_refused",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(UNPRIVILEGED_IN, &bed.name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success() && stdout.contains("unprivileged checks passed"),
        "the child failed: {stdout}{}",
        String::from_utf8_lossy(&child.stderr)
    );
}

#[test]
fn a_full_ring_drops_and_counts_then_recovers_once_blocks_go_back() {
    let bed = Testbed::new("flkful", 6);
    // Two one-page blocks: a handful of frames each.
    let cfg = AfPacketConfig {
        block_size: 4096,
        block_count: 2,
        ..config(true)
    };
    let (_port, mut io) = bed.in_fwd(|| {
        let port = open_port(&cfg, &bed.fwd_veth(), &filter()).expect("open the port");
        let io = open_thread(&cfg, &[&port], &queues(&bed, 1), 8).expect("open the thread");
        (port, io)
    });
    assert!(bed.ping(1));
    let counters = [QueueCounters::default()];
    let mut batch = Batch::with_capacity(8);
    let fwd_mac = bed.mac(&bed.fwd(), &bed.fwd_veth());
    let gen_mac = bed.mac(&bed.gen(), &bed.gen_veth());

    // Nobody receives: the ring fills, and the kernel drops the rest.
    const N: usize = 100;
    send_udp(&bed, N, 1);
    std::thread::sleep(Duration::from_millis(50));
    let stats = io.stats_reader(0).read().unwrap();
    assert_eq!(stats.packets, N as u64, "{stats:?}");
    assert!(stats.drops > 0 && stats.freeze_q_cnt > 0, "{stats:?}");
    let mut received = 0;
    loop {
        let n = io.receive(0, &mut batch, &counters[0]);
        for slot in batch.slots() {
            // 256 bytes of headroom, as under XDP; the frame starts at its Ethernet header.
            assert_eq!(slot.offset(), 256);
            assert_eq!(&slot.data()[..12], &[fwd_mac, gen_mac].concat()[..]);
        }
        io.complete(0, &mut batch, &counters);
        if n == 0 {
            break;
        }
        received += n;
    }
    assert_eq!(received as u64, stats.packets - stats.drops);
    assert_eq!(
        counters[0].dropped(DropReason::NoVerdict),
        received as u64,
        "pending verdicts are dropped and counted"
    );

    // Every block went back: a new burst gets through whole, a few frames at a time.
    let capture = bed.in_gen(|| Capture::open(&bed.gen_veth()));
    let mut received = 0;
    for _ in 0..10 {
        send_udp(&bed, 4, 1);
        std::thread::sleep(Duration::from_millis(20));
        loop {
            let n = io.receive(0, &mut batch, &counters[0]);
            let frames: Vec<Vec<u8>> = batch.slots().iter().map(|s| s.data().to_vec()).collect();
            io.complete(0, &mut batch, &counters);
            if n == 0 {
                break;
            }
            // Slow-path style copies go out as they are.
            let mut copies: Vec<Vec<u8>> = frames;
            for f in &mut copies {
                fastlane_core::wire::swap_macs(f);
            }
            let refs: Vec<&[u8]> = copies.iter().map(|f| &f[..]).collect();
            assert_eq!(io.transmit_copies(0, &refs, &counters[0]), n);
            received += n;
        }
    }
    assert_eq!(received, 40);
    let stats = io.stats_reader(0).read().unwrap();
    assert_eq!(stats.packets, N as u64 + 40, "{stats:?}");
    let returned = capture
        .frames(Duration::from_millis(300))
        .iter()
        .filter(|f| is_udp_to(f, FAST_PORT, fwd_mac, gen_mac))
        .count();
    assert_eq!(returned, 40);
    assert_eq!(counters[0].tx_packets.get(), 40);
}

/// Receives until `count` frames came or a second passed; gives each to `act`, which sets its
/// verdict, and completes the bursts.
fn receive_frames(
    io: &mut AfPacketThread,
    count: usize,
    mut act: impl FnMut(&mut fastlane_core::Packet<'_>),
) -> usize {
    let counters = [QueueCounters::default()];
    let mut batch = Batch::with_capacity(16);
    let start = std::time::Instant::now();
    let mut received = 0;
    while received < count && start.elapsed() < Duration::from_secs(1) {
        received += io.receive(0, &mut batch, &counters[0]);
        for mut packet in batch.iter_mut() {
            act(&mut packet);
        }
        io.complete(0, &mut batch, &counters);
    }
    received
}

#[test]
fn vlan_tagged_frames_reach_the_fast_path_with_their_tag() {
    let bed = Testbed::new("flkvln", 7);
    let gen_mac = bed.mac(&bed.gen(), &bed.gen_veth());
    let fwd_mac = bed.mac(&bed.fwd(), &bed.fwd_veth());
    // The kernel here has no VLAN devices: a raw socket sends tagged frames.
    let mut frame = fastlane_core::wire::testing::ipv4_udp(FAST_PORT, 18);
    frame[..6].copy_from_slice(&fwd_mac);
    frame[6..12].copy_from_slice(&gen_mac);
    frame.splice(12..12, [0x81, 0x00, 0x00, 0x0a]);
    let tagged = FilterTables::new(&FilterConfig {
        udp_ports: vec![PortMatch::One(FAST_PORT)],
        ether_types: vec![0x8100],
        ..FilterConfig::default()
    });
    let cfg = config(true);
    let (mut fwd_port, mut fwd_io) = bed.in_fwd(|| {
        let port = open_port(&cfg, &bed.fwd_veth(), &tagged).expect("open the port");
        let io = open_thread(&cfg, &[&port], &queues(&bed, 1), 16).expect("open the thread");
        (port, io)
    });
    // The generator's side receives with the backend too, which shows the tag.
    let gen_cfg = config(false);
    let (_gen_port, mut gen_io, sender) = bed.in_gen(|| {
        let port = open_port(&gen_cfg, &bed.gen_veth(), &tagged).expect("open the port");
        let queue = QueueSpec {
            port: 0,
            interface: bed.gen_veth(),
            queue: 0,
        };
        let io = open_thread(&gen_cfg, &[&port], &[queue], 16).expect("open the thread");
        (port, io, Capture::open(&bed.gen_veth()))
    });

    const N: usize = 20;
    for _ in 0..N {
        sender.send(&frame);
    }
    let forwarded = receive_frames(&mut fwd_io, N, |packet| {
        assert_eq!(
            packet.data(),
            &frame[..],
            "the forwarder's view of the frame"
        );
        fastlane_core::wire::swap_macs(packet.data_mut());
        packet.set_verdict(fastlane_core::Verdict::Transmit);
    });
    assert_eq!(forwarded, N);
    let mut returned = frame.clone();
    fastlane_core::wire::swap_macs(&mut returned);
    let back = receive_frames(&mut gen_io, N, |packet| {
        assert_eq!(packet.data(), &returned[..], "the frame that came back");
        packet.set_verdict(fastlane_core::Verdict::Kernel);
    });
    assert_eq!(back, N);

    // Without the VLAN EtherType listed, tagged frames belong to the kernel (reason `vlan`),
    // even to a listed port.
    fwd_port.set_filter(&filter()).expect("set the filter");
    for _ in 0..N {
        sender.send(&frame);
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(receive_frames(&mut fwd_io, 1, |_| {}), 0);
}
