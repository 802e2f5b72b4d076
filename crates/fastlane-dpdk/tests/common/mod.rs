//! The test bed shared by the DPDK test binaries: two veth pairs between a generator namespace
//! and a forwarder namespace, an AF_PACKET generator, and a macswap loop run by hand.

#![allow(dead_code)] // each test binary uses its own part

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fastlane_core::netns::run_in;
use fastlane_core::{Batch, Config, DropReason, QueueCounters, QueueSpec, ThreadIo, Verdict};
use fastlane_dpdk::{Dpdk, DpdkError};

pub const FRAMES: usize = 200;
/// What `macswap` puts in front of frames numbered 6 modulo 10.
const TAG: [u8; 4] = [0xde, 0xad, 0xbe, 0xef];
/// What `macswap` trims off frames numbered 5 modulo 10.
const TRIMMED: usize = 4;
const MARKER: &[u8] = b"fastlane-dpdk-test";

pub fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {args:?} failed");
}

fn ip_quiet(args: &[&str]) {
    let _ = Command::new("ip")
        .args(args)
        .stderr(std::process::Stdio::null())
        .status();
}

/// Namespaces `<prefix>-gen` and `<prefix>-fwd` joined by veth pairs `<prefix>-gN`/`<prefix>-fN`;
/// removed on drop, which also destroys the veths.
pub struct Testbed {
    pub gen: String,
    pub fwd: String,
    pub pairs: Vec<(String, String)>,
}

impl Testbed {
    pub fn new(prefix: &str, pairs: usize) -> Testbed {
        let bed = Testbed {
            gen: format!("{prefix}-gen"),
            fwd: format!("{prefix}-fwd"),
            pairs: (0..pairs)
                .map(|i| (format!("{prefix}-g{i}"), format!("{prefix}-f{i}")))
                .collect(),
        };
        bed.remove();
        ip(&["netns", "add", &bed.gen]);
        ip(&["netns", "add", &bed.fwd]);
        for (g, f) in &bed.pairs {
            ip(&["link", "add", g, "type", "veth", "peer", "name", f]);
            ip(&["link", "set", g, "netns", &bed.gen]);
            ip(&["link", "set", f, "netns", &bed.fwd]);
            for (ns, dev) in [(&bed.gen, g), (&bed.fwd, f)] {
                // No IPv6 autoconfiguration chatter among the test frames.
                let status = Command::new("ip")
                    .args(["netns", "exec", ns, "sysctl", "-qw"])
                    .arg(format!("net.ipv6.conf.{dev}.disable_ipv6=1"))
                    .status()
                    .expect("run sysctl");
                assert!(status.success());
                ip(&["-n", ns, "link", "set", dev, "up"]);
            }
        }
        bed
    }

    fn remove(&self) {
        ip_quiet(&["netns", "del", &self.gen]);
        ip_quiet(&["netns", "del", &self.fwd]);
    }

    pub fn mac(&self, ns: &str, dev: &str) -> [u8; 6] {
        let out = Command::new("ip")
            .args(["-n", ns, "link", "show", dev])
            .output()
            .expect("run ip");
        let text = String::from_utf8_lossy(&out.stdout);
        let mac = text
            .split_whitespace()
            .skip_while(|w| *w != "link/ether")
            .nth(1)
            .expect("a MAC address");
        fastlane_core::config::parse_mac(mac).expect("a MAC address")
    }

    /// Whether an XDP program is attached to `dev` in `ns`.
    pub fn has_xdp(&self, ns: &str, dev: &str) -> bool {
        let out = Command::new("ip")
            .args(["-n", ns, "link", "show", dev])
            .output()
            .expect("run ip");
        String::from_utf8_lossy(&out.stdout).contains("xdp")
    }

    /// A config with one port per veth pair (forwarder ends), `devices[i]` its DPDK device and
    /// `queues[i]` its number of queues (queue n on core n).
    pub fn config(&self, devices: &[String], queues: &[u16], dpdk_extra: &str) -> Config {
        let ports: Vec<String> = self
            .pairs
            .iter()
            .zip(queues)
            .map(|((_, f), &n)| {
                let queues: Vec<String> = (0..n)
                    .map(|q| format!(r#"{{ "id": {q}, "core": {q} }}"#))
                    .collect();
                format!(
                    r#"{{ "interface": "{f}", "queues": [{}] }}"#,
                    queues.join(",")
                )
            })
            .collect();
        let devices: Vec<String> = self
            .pairs
            .iter()
            .zip(devices)
            .map(|((_, f), d)| format!(r#""{f}": "{d}""#))
            .collect();
        let text = format!(
            r#"{{ "backend": "dpdk", "netns": "{}", "ports": [{}],
                 "dpdk": {{ "devices": {{ {} }} {dpdk_extra} }}, "pipeline": ["macswap"] }}"#,
            self.fwd,
            ports.join(","),
            devices.join(",")
        );
        serde_json::from_str(&text).expect("test config")
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.remove();
    }
}

/// An AF_PACKET socket on a generator-side veth.
pub struct Generator {
    fd: OwnedFd,
    ifindex: i32,
    pub mac: [u8; 6],
}

impl Generator {
    pub fn open(bed: &Testbed, pair: usize) -> Generator {
        let dev = bed.pairs[pair].0.clone();
        let mac = bed.mac(&bed.gen, &dev);
        let (fd, ifindex) = run_in(Some(&bed.gen), || {
            let name = std::ffi::CString::new(dev.clone()).unwrap();
            // SAFETY: a NUL-terminated name.
            let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) } as i32;
            assert!(ifindex > 0, "no {dev} in the generator namespace");
            let proto = (libc::ETH_P_ALL as u16).to_be() as i32;
            // SAFETY: plain socket creation.
            let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto) };
            assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
            // SAFETY: a fresh descriptor we own.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            // SAFETY: sockaddr_ll is plain data.
            let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_protocol = proto as u16;
            addr.sll_ifindex = ifindex;
            // SAFETY: addr is a valid sockaddr_ll of the given size.
            let rc = unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&addr as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as u32,
                )
            };
            assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
            let timeout = libc::timeval {
                tv_sec: 0,
                tv_usec: 100_000,
            };
            // SAFETY: a timeval of the right size.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&timeout as *const libc::timeval).cast(),
                    std::mem::size_of::<libc::timeval>() as u32,
                )
            };
            // Room for every returned frame until the test reads them.
            let rcvbuf: libc::c_int = 16 << 20;
            // SAFETY: an int of the right size.
            let rc = unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUFFORCE,
                    (&rcvbuf as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as u32,
                )
            };
            assert_eq!(rc, 0, "SO_RCVBUFFORCE: {}", std::io::Error::last_os_error());
            (fd, ifindex)
        })
        .expect("enter the generator namespace");
        Generator { fd, ifindex, mac }
    }

    pub fn send(&self, frame: &[u8]) {
        // SAFETY: frame is a readable buffer of its length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            n,
            frame.len() as isize,
            "send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Frames that arrived (not our own outgoing ones) until `quiet` passes without one or
    /// `want` test frames came.
    pub fn receive(&self, want: usize, quiet: Duration) -> Vec<Vec<u8>> {
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let mut last = Instant::now();
        let mut buf = vec![0u8; 4096];
        while last.elapsed() < quiet
            && frames.iter().filter(|f| is_test_frame(untag(f))).count() < want
        {
            // SAFETY: sockaddr_ll is plain data.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: buf and from are writable with the given sizes.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                continue;
            }
            if from.sll_pkttype == libc::PACKET_OUTGOING || from.sll_ifindex != self.ifindex {
                continue;
            }
            frames.push(buf[..n as usize].to_vec());
            last = Instant::now();
        }
        frames
    }
}

/// A UDP/IPv4 test frame numbered `seq`.
pub fn udp_frame(dst: [u8; 6], src: [u8; 6], seq: u32, payload_len: usize) -> Vec<u8> {
    let mut payload = MARKER.to_vec();
    payload.extend_from_slice(&seq.to_be_bytes());
    payload.resize(payload_len.max(payload.len()), 0xab);
    let udp_len = 8 + payload.len();
    let ip_len = 20 + udp_len;
    let mut f = Vec::with_capacity(14 + ip_len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut iph = [
        0x45,
        0,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        0,
        0x40,
        0,
        64,
        17,
        0,
        0,
        10,
        99,
        0,
        1,
        10,
        99,
        0,
        2,
    ];
    let sum: u32 = iph
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as u32)
        .sum();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    iph[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&iph);
    // A flow per frame, for fanout over a port's queues.
    f.extend_from_slice(&(10_000 + (seq % 1000) as u16).to_be_bytes());
    f.extend_from_slice(&9000u16.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

/// A returned frame without the tag `macswap` may have put in front.
pub fn untag(frame: &[u8]) -> &[u8] {
    frame.strip_prefix(&TAG[..]).unwrap_or(frame)
}

pub fn is_test_frame(frame: &[u8]) -> bool {
    frame.len() >= 42 + MARKER.len() + 4 && frame[42..42 + MARKER.len()] == *MARKER
}

pub fn seq_of(frame: &[u8]) -> u32 {
    let at = 42 + MARKER.len();
    u32::from_be_bytes(frame[at..at + 4].try_into().unwrap())
}

/// Runs receive → swap MACs → verdict → complete until `want` test frames addressed to their
/// port (`macs[port]`) were handled or 5 s passed; `verdict` picks each one's fate from its
/// sequence number, other frames are given to the kernel. Returns how many test frames were seen.
pub fn macswap(
    io: &mut dyn ThreadIo,
    counters: &[QueueCounters],
    macs: &[[u8; 6]],
    want: usize,
    verdict: impl Fn(u32) -> Verdict,
) -> usize {
    macswap_shared(io, counters, macs, &AtomicUsize::new(0), want, verdict)
}

/// [`macswap`] on one of several threads that together handle `want` test frames, counted in
/// `seen`.
pub fn macswap_shared(
    io: &mut dyn ThreadIo,
    counters: &[QueueCounters],
    macs: &[[u8; 6]],
    seen: &AtomicUsize,
    want: usize,
    verdict: impl Fn(u32) -> Verdict,
) -> usize {
    let mut batch = Batch::with_capacity(32);
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        let mut received = 0;
        for source in 0..io.queues().len() {
            let n = io.receive(source, &mut batch, &counters[source]);
            assert_eq!(n, batch.len());
            received += n;
            if n == 0 {
                continue;
            }
            let mac = macs[batch.port() as usize];
            for mut packet in batch.iter_mut() {
                if !is_test_frame(packet.data()) || packet.data()[..6] != mac {
                    packet.set_verdict(Verdict::Kernel);
                    continue;
                }
                seen.fetch_add(1, Ordering::Relaxed);
                let seq = seq_of(packet.data());
                let data = packet.data_mut();
                let (dst, src) = data[..12].split_at_mut(6);
                dst.swap_with_slice(src);
                // Edits that move the packet's start and end within its mbuf.
                match seq % 10 {
                    5 => packet.trim(TRIMMED).expect("trim"),
                    6 => packet
                        .prepend(TAG.len())
                        .expect("headroom")
                        .copy_from_slice(&TAG),
                    _ => {}
                }
                packet.set_verdict(verdict(seq));
            }
            io.complete(source, &mut batch, counters);
            assert!(batch.is_empty());
        }
        if received == 0 {
            io.idle(&[]);
        }
    }
    seen.load(Ordering::Relaxed)
}

pub fn dropped(c: &QueueCounters, reason: DropReason) -> u64 {
    c.dropped(reason)
}

/// The pre-EAL checks: a missing PCI device and an unbuilt queue fail before DPDK is touched.
pub fn missing_pci_device_fails_clearly(bed: &Testbed) {
    let devices = ["0000:ff:1f.7", "net_null0", "net_null1"].map(String::from);
    let config = bed.config(&devices, &[1, 1, 1], r#", "huge_pages": false"#);
    let e = Dpdk::start(&config).expect_err("a missing PCI device must fail");
    assert!(matches!(e, DpdkError::NoPciDevice { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("PCI device 0000:ff:1f.7") && text.contains("does not exist"),
        "{text}"
    );
}

/// Queue 0 of every port.
pub fn all_queues(bed: &Testbed) -> Vec<QueueSpec> {
    bed.pairs
        .iter()
        .enumerate()
        .map(|(p, (_, f))| QueueSpec {
            port: p as u16,
            interface: f.clone(),
            queue: 0,
        })
        .collect()
}

/// The whole backend on `bed` (three pairs): a net_af_packet port, a net_af_xdp port and a
/// two-queue net_af_packet port in one EAL with `dpdk_extra` memory options; `while_running`
/// checks the memory while DPDK holds it. Returns after the DPDK instance is gone.
// Without DPDK support the handles are uninhabited types without Drop.
#[allow(clippy::drop_non_drop)]
pub fn exercise(bed: &Testbed, dpdk_extra: &str, while_running: impl FnOnce()) {
    missing_pci_device_fails_clearly(bed);
    let (f0, f1, f2) = (&bed.pairs[0].1, &bed.pairs[1].1, &bed.pairs[2].1);
    let devices = [
        format!("net_af_packet0,iface={f0},qpairs=1"),
        format!("net_af_xdp0,iface={f1},start_queue=0,queue_count=1"),
        format!("net_af_packet1,iface={f2},qpairs=2"),
    ];
    let queues = [1, 1, 2];
    let config = bed.config(&devices, &queues, dpdk_extra);
    let dpdk = Dpdk::start(&config).unwrap_or_else(|e| panic!("Dpdk::start: {e}"));
    while_running();
    let macs = [dpdk.port_mac(0), dpdk.port_mac(1), dpdk.port_mac(2)];
    assert_eq!(macs[0], bed.mac(&bed.fwd, f0));
    assert_eq!(macs[1], bed.mac(&bed.fwd, f1));
    assert!(
        bed.has_xdp(&bed.fwd, f1),
        "net_af_xdp attaches its XDP program"
    );

    let other = bed.config(
        &devices,
        &queues,
        r#", "huge_pages": false, "memory_mb": 128"#,
    );
    let e = Dpdk::start(&other).expect_err("a second EAL init must fail");
    assert!(matches!(e, DpdkError::EalInUse { .. }), "{e}");
    assert!(e.to_string().contains("once per process"), "{e}");

    let gens = [0, 1, 2].map(|pair| Generator::open(bed, pair));
    let counters: Vec<QueueCounters> = (0..3).map(|_| QueueCounters::default()).collect();
    let mut io = dpdk.thread(&all_queues(bed), 32).expect("DpdkThread");
    assert_eq!(io.split(), fastlane_core::io::Split::ViaTap);
    assert!(dpdk
        .thread(
            &[QueueSpec {
                port: 0,
                interface: f0.clone(),
                queue: 1
            }],
            32
        )
        .is_err());

    // Port 0 (af_packet): every fate a verdict can have.
    for seq in 0..FRAMES as u32 {
        gens[0].send(&udp_frame(macs[0], gens[0].mac, seq, 60));
    }
    let fate = |seq: u32| match seq % 10 {
        0 => Verdict::Drop(DropReason::Processor),
        1 => Verdict::TransmitOn(1),
        2 => Verdict::TransmitOn(7),
        3 => Verdict::Pending,
        _ => Verdict::Transmit,
    };
    // On a thread of its own: the I/O moves there and registers it with DPDK.
    let (seen, returned) = std::thread::scope(|s| {
        s.spawn(|| {
            let seen = macswap(&mut io, &counters, &macs, FRAMES, fate);
            (seen, io)
        })
        .join()
        .expect("macswap thread")
    });
    io = returned;
    assert_eq!(seen, FRAMES);
    let back0 = gens[0].receive(FRAMES * 6 / 10, Duration::from_secs(2));
    let back1 = gens[1].receive(FRAMES / 10, Duration::from_secs(2));
    let small = udp_frame(macs[0], gens[0].mac, 0, 60).len();
    let returned = (0..FRAMES as u32).filter(|s| s % 10 >= 4);
    check_returned(&back0, gens[0].mac, macs[0], small, returned);
    let crossed = (0..FRAMES as u32).filter(|s| s % 10 == 1);
    check_returned(&back1, gens[0].mac, macs[0], small, crossed);
    let c0 = &counters[0];
    assert!(c0.rx_packets.get() >= FRAMES as u64);
    assert!(c0.rx_batches.get() >= 1 && c0.rx_batches.get() <= c0.rx_packets.get());
    assert_eq!(c0.tx_packets.get(), (FRAMES * 6 / 10) as u64);
    assert_eq!(counters[1].tx_packets.get(), (FRAMES / 10) as u64);
    for reason in [
        DropReason::Processor,
        DropReason::NoSuchPort,
        DropReason::NoVerdict,
    ] {
        assert_eq!(
            dropped(c0, reason),
            (FRAMES / 10) as u64,
            "{}",
            reason.name()
        );
    }
    assert_eq!(dropped(c0, DropReason::TxRingFull), 0);
    // The trimmed and the tagged frames even out.
    let frame_bytes = small as u64;
    assert_eq!(c0.tx_bytes.get(), frame_bytes * (FRAMES * 6 / 10) as u64);
    assert_eq!(
        counters[1].tx_bytes.get(),
        frame_bytes * (FRAMES / 10) as u64
    );

    // Port 1 (af_xdp): everything straight back, 1000-byte frames.
    for seq in 0..FRAMES as u32 {
        gens[1].send(&udp_frame(macs[1], gens[1].mac, seq, 1000));
    }
    let seen = macswap(&mut io, &counters, &macs, FRAMES, |_| Verdict::Transmit);
    assert_eq!(seen, FRAMES);
    let back1 = gens[1].receive(FRAMES, Duration::from_secs(2));
    let large = udp_frame(macs[1], gens[1].mac, 0, 1000).len();
    check_returned(&back1, gens[1].mac, macs[1], large, 0..FRAMES as u32);
    let c1 = &counters[1];
    assert!(c1.rx_packets.get() >= FRAMES as u64);
    assert_eq!(c1.tx_packets.get(), (FRAMES + FRAMES / 10) as u64);
    assert!(c1.rx_bytes.get() >= FRAMES as u64 * 1042);

    // The slow path's way out: copies into fresh mbufs, more than one burst's worth; a frame
    // no mbuf holds is skipped.
    let copies: Vec<Vec<u8>> = (0..40)
        .map(|i| udp_frame(gens[0].mac, macs[0], 5000 + i, 100))
        .collect();
    let too_big = vec![0u8; 3000];
    let mut frames: Vec<&[u8]> = copies.iter().map(Vec::as_slice).collect();
    frames.insert(3, &too_big);
    let tx_before = (c0.tx_packets.get(), c0.tx_bytes.get());
    let no_buffer_before = c0.dropped(DropReason::NoBuffer);
    assert_eq!(io.transmit_copies(0, &frames, c0), copies.len());
    // Counted once, as the one frame no buffer holds.
    assert_eq!(c0.dropped(DropReason::NoBuffer), no_buffer_before + 1);
    let copy_bytes: usize = copies.iter().map(Vec::len).sum();
    assert_eq!(
        (c0.tx_packets.get(), c0.tx_bytes.get()),
        (tx_before.0 + 40, tx_before.1 + copy_bytes as u64)
    );
    let mut got: Vec<Vec<u8>> = gens[0]
        .receive(copies.len(), Duration::from_secs(2))
        .into_iter()
        .filter(|f| is_test_frame(f))
        .collect();
    got.sort_by_key(|f| seq_of(f));
    assert_eq!(got, copies);

    // Port 2's two queues on two threads at once, each registered with DPDK.
    let q1 = QueueSpec {
        port: 2,
        interface: f2.clone(),
        queue: 1,
    };
    let mut io2 = dpdk.thread(&[q1], 32).expect("second DpdkThread");
    let counters2 = [QueueCounters::default()];
    for seq in 0..FRAMES as u32 {
        gens[2].send(&udp_frame(macs[2], gens[2].mac, seq, 200));
    }
    let seen = AtomicUsize::new(0);
    let (io_back, io2_back) = std::thread::scope(|s| {
        let one = s.spawn(|| {
            macswap_shared(&mut io, &counters, &macs, &seen, FRAMES, |_| {
                Verdict::Transmit
            });
            io
        });
        let two = s.spawn(|| {
            macswap_shared(&mut io2, &counters2, &macs, &seen, FRAMES, |_| {
                Verdict::Transmit
            });
            io2
        });
        (
            one.join().expect("thread one"),
            two.join().expect("thread two"),
        )
    });
    (io, io2) = (io_back, io2_back);
    assert_eq!(seen.load(Ordering::Relaxed), FRAMES);
    let back2 = gens[2].receive(FRAMES, Duration::from_secs(2));
    let medium = udp_frame(macs[2], gens[2].mac, 0, 200).len();
    check_returned(&back2, gens[2].mac, macs[2], medium, 0..FRAMES as u32);
    let (a, b) = (&counters[2], &counters2[0]);
    assert!(
        a.rx_packets.get() > 0 && b.rx_packets.get() > 0,
        "fanout over both queues: {} and {}",
        a.rx_packets.get(),
        b.rx_packets.get()
    );
    assert_eq!(a.tx_packets.get() + b.tx_packets.get(), FRAMES as u64);

    // The devices saw what the threads counted.
    let mut rx: Vec<u64> = counters.iter().map(|c| c.rx_packets.get()).collect();
    let mut tx: Vec<u64> = counters.iter().map(|c| c.tx_packets.get()).collect();
    rx[2] += b.rx_packets.get();
    tx[2] += b.tx_packets.get();
    for p in 0..3 {
        let stats = dpdk.port_stats(p as u16).expect("port stats");
        assert_eq!(stats.ipackets, rx[p], "port {p} {stats:?}");
        assert_eq!(stats.opackets, tx[p], "port {p} {stats:?}");
        assert_eq!(
            (stats.ierrors, stats.oerrors, stats.rx_nombuf),
            (0, 0, 0),
            "port {p}"
        );
    }

    drop(io);
    drop(io2);
    drop(dpdk);
    assert!(
        !bed.has_xdp(&bed.fwd, f1),
        "closing the port detaches its XDP program"
    );
    let runtime_dir = format!("/var/run/dpdk/fastlane-{}", std::process::id());
    assert!(
        !std::path::Path::new(&runtime_dir).exists(),
        "{runtime_dir} left behind"
    );
    let e = Dpdk::start(&config).expect_err("EAL cannot start twice");
    assert!(matches!(e, DpdkError::EalInUse { .. }), "{e}");
}

/// `frames` hold exactly the test frames `seqs`, each `sent_len` bytes long as sent, with `dst`
/// and `src` as its MACs and `macswap`'s edits applied.
fn check_returned(
    frames: &[Vec<u8>],
    dst: [u8; 6],
    src: [u8; 6],
    sent_len: usize,
    seqs: impl Iterator<Item = u32>,
) {
    let mut got: Vec<u32> = frames
        .iter()
        .filter(|f| is_test_frame(untag(f)))
        .map(|f| {
            let body = untag(f);
            let seq = seq_of(body);
            assert_eq!(body[..6], dst, "destination MAC of {seq}");
            assert_eq!(body[6..12], src, "source MAC of {seq}");
            assert_eq!(body.len() < f.len(), seq % 10 == 6, "tag on {seq}");
            let trimmed = if seq % 10 == 5 { TRIMMED } else { 0 };
            assert_eq!(body.len(), sent_len - trimmed, "length of {seq}");
            seq
        })
        .collect();
    got.sort_unstable();
    assert_eq!(got, seqs.collect::<Vec<_>>());
}

const CHILD: &str = "FASTLANE_DPDK_TEST_CHILD";

/// Whether this process is the child [`run_child`] started.
pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Runs test `name` of this binary in a child process and fails with its output if it fails.
/// DPDK 22.11 releases some memory only at process exit (the `--in-memory` segments, and the
/// mbuf pool that a `net_af_xdp` port's UMEM keeps pinned), so what stays behind is checked
/// after the child is gone.
pub fn run_child(name: &str) {
    let out = Command::new(std::env::current_exe().expect("current_exe"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("run the test child");
    assert!(
        out.status.success(),
        "child {name} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits up to 3 s for `free_hugepages()` to reach `want` (the kernel may release a process's
/// pages a little after it exits), then returns it.
pub fn free_hugepages_settled(want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let free = free_hugepages();
        if free == want || Instant::now() > deadline {
            return free;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Free hugepages of the default size, from /proc/meminfo.
pub fn free_hugepages() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("read /proc/meminfo");
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("HugePages_Free in /proc/meminfo")
}

const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

fn nr_hugepages() -> u64 {
    std::fs::read_to_string(NR_HUGEPAGES)
        .expect("read nr_hugepages")
        .trim()
        .parse()
        .expect("a number")
}

/// `pages` more 2 MiB hugepages reserved and a hugetlbfs mounted at `dir`; both undone on drop
/// (the reservation by as many pages as it added, in case others changed it meanwhile).
pub struct Hugepages {
    pub dir: String,
    added: u64,
}

impl Hugepages {
    pub fn reserve(name: &str, pages: u64) -> Hugepages {
        let before = nr_hugepages();
        std::fs::write(NR_HUGEPAGES, (before + pages).to_string()).expect("write nr_hugepages");
        let added = nr_hugepages() - before;
        let dir = format!("/tmp/{name}-{}", std::process::id());
        let mut huge = Hugepages { dir, added };
        assert_eq!(
            huge.added, pages,
            "the kernel reserved only {} hugepages",
            huge.added
        );
        std::fs::create_dir_all(&huge.dir).expect("create the hugetlbfs mount point");
        let status = Command::new("mount")
            .args(["-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", &huge.dir])
            .status()
            .expect("run mount");
        if !status.success() {
            huge.dir.clear();
            panic!("mount hugetlbfs failed");
        }
        huge
    }

    /// Names of the files in the hugetlbfs mount.
    pub fn files(&self) -> Vec<String> {
        std::fs::read_dir(&self.dir)
            .expect("read the hugetlbfs mount")
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect()
    }
}

impl Drop for Hugepages {
    fn drop(&mut self) {
        if !self.dir.is_empty() {
            let _ = Command::new("umount").arg(&self.dir).status();
            let _ = std::fs::remove_dir(&self.dir);
        }
        let now = nr_hugepages();
        let _ = std::fs::write(NR_HUGEPAGES, now.saturating_sub(self.added).to_string());
    }
}
