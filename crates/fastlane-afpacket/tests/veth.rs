//! The AF_PACKET backend on a veth pair between two namespaces (these tests need root).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use common::{is_port_unreachable, is_udp_to, Capture, Forwarder, Testbed};
use fastlane_afpacket::{
    open_port, open_thread, AfPacketError, AfPacketPort, AfPacketThread, PacketQueue, SplitMechanism,
};
use fastlane_core::config::{AfPacketConfig, FanoutMode, FilterConfig, PortMatch};
use fastlane_core::{DropReason, FilterTables, QueueCounters, Split, ThreadIo};
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

fn queues(bed: &Testbed, count: u16) -> Vec<PacketQueue> {
    (0..count)
        .map(|queue| PacketQueue {
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
        (port, Forwarder::start(io))
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
    assert!(forwarder.wait_for(Duration::from_secs(5), |c| c[0].tx_packets.get() >= N as u64));
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
        (c.rx_packets.get(), c.tx_packets.get(), c.rx_batches.get() > 0),
        (N as u64, N as u64, true)
    );
    assert_eq!(c.rx_bytes.get(), c.tx_bytes.get());
    no_drops(&counters);
    assert_eq!(kernel_statistics(&io), vec![N as u64]);

    drop(io);
    drop(port);
    assert_eq!(tcx_programs(&bed), 0, "the tc program outlived its port");
    let link = common::ip(&["-n", &bed.fwd(), "-d", "link", "show", "dev", &bed.fwd_veth()]);
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
