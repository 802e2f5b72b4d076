//! The tools against each other on a veth pair between two namespaces (needs root).

use std::net::Ipv4Addr;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use fastlane_testbed::{
    exchange, interface_mac, latency, udp_dst_port, udp_frame, Generator, GeneratorConfig,
    Reflector, ReturnPath, TestbedError, UdpFrameSpec, MAX_FRAME_HEADER,
};

const PORT: u16 = 9000;

/// The tests take turns: generators pinned to the same core would share it, and the measured
/// rates would mean nothing.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
const NEAR_IP: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 1);
const FAR_IP: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 2);

fn ip(args: &[&str]) -> Output {
    Command::new("ip")
        .args(args)
        .output()
        .expect("run ip (iproute2)")
}

fn ip_ok(args: &[&str]) {
    let out = ip(args);
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces joined by a veth pair with addresses; removed on drop, even after a failure.
struct VethPair {
    _turn: MutexGuard<'static, ()>,
    near_ns: String,
    far_ns: String,
    near: String,
    far: String,
}

impl VethPair {
    /// `tag` (one letter) keeps the tests of one run apart, the process id separate runs.
    fn new(tag: char) -> VethPair {
        let id = std::process::id() % 100_000;
        let pair = VethPair {
            // A test that failed while holding the lock poisons it; the others still run.
            _turn: ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner()),
            near_ns: format!("flt-{id}-{tag}-near"),
            far_ns: format!("flt-{id}-{tag}-far"),
            near: format!("flt{id}{tag}n"),
            far: format!("flt{id}{tag}f"),
        };
        for ns in [&pair.near_ns, &pair.far_ns] {
            ip_ok(&["netns", "add", ns]);
            ip_ok(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip_ok(&[
            "link",
            "add",
            &pair.near,
            "netns",
            &pair.near_ns,
            "type",
            "veth",
            "peer",
            "name",
            &pair.far,
            "netns",
            &pair.far_ns,
        ]);
        for (ns, dev, addr) in [
            (&pair.near_ns, &pair.near, NEAR_IP),
            (&pair.far_ns, &pair.far, FAR_IP),
        ] {
            ip_ok(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip_ok(&["-n", ns, "link", "set", dev, "up"]);
        }
        pair
    }

    fn spec(&self) -> UdpFrameSpec {
        UdpFrameSpec {
            dst_mac: interface_mac(Some(&self.far_ns), &self.far).unwrap(),
            src_mac: interface_mac(Some(&self.near_ns), &self.near).unwrap(),
            src_ip: NEAR_IP,
            dst_ip: FAR_IP,
            src_port: 40000,
            dst_port: PORT,
            udp_checksum: true,
        }
    }

    /// Whether `ip -d link` shows an XDP program on `dev`.
    fn has_xdp(ns: &str, dev: &str) -> bool {
        let out = ip(&["-n", ns, "-d", "link", "show", "dev", dev]);
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).contains("prog/xdp")
    }

    /// Replies to `count` pings from near to far, sent 0.1 s apart.
    fn pings(&self, count: u32) -> u32 {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.near_ns,
                "ping",
                "-n",
                "-q",
                "-i",
                "0.1",
                "-W",
                "1",
            ])
            .args(["-c", &count.to_string(), &FAR_IP.to_string()])
            .output()
            .expect("run ping");
        let text = String::from_utf8_lossy(&out.stdout);
        text.split(',')
            .find_map(|part| part.trim().strip_suffix(" received"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no ping summary in: {text}"))
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        // Deleting a namespace destroys its veth end, and with it the peer.
        for ns in [&self.near_ns, &self.far_ns] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

fn config(pair: &VethPair, frame: Vec<u8>, rate_pps: Option<u64>) -> GeneratorConfig {
    GeneratorConfig {
        netns: Some(pair.near_ns.clone()),
        interface: pair.near.clone(),
        frames: vec![frame],
        core: Some(0),
        match_udp_port: PORT,
        returns: None,
        rate_pps,
    }
}

#[test]
fn generator_traffic_returns_through_a_reflector_and_ping_still_works() {
    let pair = VethPair::new('g');
    let reflector = Reflector::attach(Some(&pair.far_ns), &pair.far).unwrap();
    assert!(VethPair::has_xdp(&pair.far_ns, &pair.far));
    assert_eq!(pair.pings(3), 3, "ping through an idle reflector");

    let frame = udp_frame(&pair.spec(), 64);
    let generator = Generator::start(config(&pair, frame, None)).unwrap();
    let started = Instant::now();
    assert!(
        VethPair::has_xdp(&pair.near_ns, &pair.near),
        "sink attached"
    );
    // Ping while traffic flows: the sink and the reflector must pass ICMP and ARP.
    let replies = pair.pings(10);
    std::thread::sleep(Duration::from_millis(1000).saturating_sub(started.elapsed()));
    let running = generator.stats();
    let seconds = started.elapsed().as_secs_f64();
    let stats = generator.stop().unwrap();

    assert!(replies > 0, "no ping reply while the generator ran");
    assert!(running.returned_packets > 0, "{running:?}");
    assert!(stats.sent_packets >= running.sent_packets);
    assert!(stats.returned_packets >= running.returned_packets);
    assert!(stats.returned_packets > 0, "{stats:?}");
    assert!(stats.returned_packets <= stats.sent_packets, "{stats:?}");
    assert_eq!(stats.returned_bytes, 64 * stats.returned_packets);
    eprintln!(
        "generator -> fl_reflect, 64 B, {seconds:.2} s: sent {:.2} Mpps, returned {:.2} Mpps, \
         ping {replies}/10 under load",
        stats.sent_packets as f64 / seconds / 1e6,
        stats.returned_packets as f64 / seconds / 1e6,
    );

    assert!(
        !VethPair::has_xdp(&pair.near_ns, &pair.near),
        "sink left behind"
    );
    drop(reflector);
    assert!(
        !VethPair::has_xdp(&pair.far_ns, &pair.far),
        "reflector left behind"
    );
}

#[test]
fn a_paced_generator_keeps_its_rate() {
    let pair = VethPair::new('r');
    let _reflector = Reflector::attach(Some(&pair.far_ns), &pair.far).unwrap();
    let frame = udp_frame(&pair.spec(), 1400);
    let rate = 50_000;
    let generator = Generator::start(config(&pair, frame, Some(rate))).unwrap();
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let window = started.elapsed();
    let stats = generator.stop().unwrap();
    let expected = rate as f64 * window.as_secs_f64();
    let sent = stats.sent_packets as f64;
    // Start returns after the first burst (10 ms worth); stop lets one more burst out.
    assert!(
        (0.9 * expected..=1.1 * expected).contains(&sent),
        "sent {sent} at {rate} pps, expected about {expected:.0}"
    );
    // Far below the reflector's capacity: everything comes back.
    assert!(stats.returned_packets as f64 >= 0.95 * sent, "{stats:?}");
    assert!(stats.returned_packets <= stats.sent_packets, "{stats:?}");
    assert_eq!(stats.returned_bytes, 1400 * stats.returned_packets);
}

#[test]
fn the_sink_takes_only_its_port() {
    let pair = VethPair::new('s');
    let _reflector = Reflector::attach(Some(&pair.far_ns), &pair.far).unwrap();
    let mut spec = pair.spec();
    spec.dst_port = PORT + 1;
    let mut cfg = config(&pair, udp_frame(&spec, 64), Some(10_000));
    cfg.core = None;
    let generator = Generator::start(cfg).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stats = generator.stop().unwrap();
    assert!(stats.sent_packets > 0);
    assert_eq!(stats.returned_packets, 0, "{stats:?}");
}

/// `frame` with 40 bytes of IPv4 options (NOPs): its UDP header then starts at byte 74, beyond the
/// 64 bytes a template used to cover.
fn with_ip_options(frame: &[u8]) -> Vec<u8> {
    let mut f = frame[..34].to_vec();
    f.extend_from_slice(&[1; 40]);
    f.extend_from_slice(&frame[34..]);
    f[14] = 0x4f;
    let total = u16::from_be_bytes([f[16], f[17]]) + 40;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f[24..26].fill(0);
    fastlane_wire::Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
    f
}

#[test]
fn the_generator_cycles_over_its_frames_and_counts_them_where_they_arrive() {
    let pair = VethPair::new('c');
    // Four frames, alike but for their UDP destination port (and checksum), both past byte 64;
    // one in four is to the counted port. Were frame 0 sent every time, all would be counted.
    let spec = pair.spec();
    let frames: Vec<Vec<u8>> = [PORT, PORT + 1, PORT + 2, PORT + 3]
        .iter()
        .map(|&dst_port| {
            with_ip_options(&udp_frame(
                &UdpFrameSpec {
                    dst_port,
                    ..spec.clone()
                },
                200,
            ))
        })
        .collect();
    assert_eq!(udp_dst_port(&frames[1]), Some(PORT + 1));
    let differing: Vec<usize> = (0..frames[0].len())
        .filter(|&i| frames.iter().any(|f| f[i] != frames[0][i]))
        .collect();
    assert!(
        differing
            .iter()
            .all(|&i| (64..MAX_FRAME_HEADER).contains(&i)),
        "{differing:?}"
    );
    // No reflector: the frames are counted where they arrive, on the far end.
    let cfg = GeneratorConfig {
        frames,
        returns: Some(ReturnPath {
            netns: Some(pair.far_ns.clone()),
            interface: pair.far.clone(),
        }),
        ..config(&pair, Vec::new(), Some(40_000))
    };
    let generator = Generator::start(cfg).unwrap();
    assert!(VethPair::has_xdp(&pair.far_ns, &pair.far), "sink attached");
    assert!(
        !VethPair::has_xdp(&pair.near_ns, &pair.near),
        "nothing on the sender"
    );
    std::thread::sleep(Duration::from_millis(500));
    let stats = generator.stop().unwrap();
    let quarter = stats.sent_packets as f64 / 4.0;
    assert!(stats.sent_packets > 1000, "{stats:?}");
    // Far below capacity nothing is lost; one frame in four, rounded either way, is counted.
    assert!(
        (0.95 * quarter..=quarter + 1.0).contains(&(stats.returned_packets as f64)),
        "{stats:?}"
    );
    assert_eq!(stats.returned_bytes, 240 * stats.returned_packets);
    assert!(
        !VethPair::has_xdp(&pair.far_ns, &pair.far),
        "sink left behind"
    );
}

#[test]
fn exchange_returns_every_frame_with_its_macs_swapped() {
    let pair = VethPair::new('x');
    let _reflector = Reflector::attach(Some(&pair.far_ns), &pair.far).unwrap();
    let spec = pair.spec();
    let frames: Vec<Vec<u8>> = (0..20)
        .map(|i| {
            let mut s = spec.clone();
            s.src_port = 41000 + i;
            udp_frame(&s, 60 + 20 * i as usize)
        })
        .collect();
    let mut back = exchange(
        Some(&pair.near_ns),
        &pair.near,
        &frames,
        PORT,
        frames.len(),
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(back.len(), frames.len());
    back.sort_by_key(|f| f.len());
    for (sent, got) in frames.iter().zip(&back) {
        let mut swapped = sent.clone();
        fastlane_core::wire::swap_macs(&mut swapped);
        assert_eq!(got, &swapped);
        assert_eq!(udp_dst_port(got), Some(PORT));
    }
    assert!(
        !VethPair::has_xdp(&pair.near_ns, &pair.near),
        "fl_pass left behind"
    );
}

#[test]
fn exchange_works_beside_a_generator_of_other_traffic() {
    let pair = VethPair::new('b');
    let _reflector = Reflector::attach(Some(&pair.far_ns), &pair.far).unwrap();
    let mut other = pair.spec();
    other.dst_port = PORT + 1;
    let mut cfg = config(&pair, udp_frame(&other, 64), Some(20_000));
    cfg.match_udp_port = PORT + 1;
    let generator = Generator::start(cfg).unwrap();
    // The sink is the interface's XDP program now: exchange uses it, and it passes our port.
    let frames = vec![udp_frame(&pair.spec(), 100); 5];
    let back = exchange(
        Some(&pair.near_ns),
        &pair.near,
        &frames,
        PORT,
        frames.len(),
        Duration::from_secs(5),
    )
    .unwrap();
    let stats = generator.stop().unwrap();
    assert_eq!(back.len(), frames.len());
    assert!(stats.returned_packets > 0, "{stats:?}");
    assert_eq!(stats.returned_bytes, 64 * stats.returned_packets);
}

#[test]
fn latency_through_a_reflector_is_finite_and_lossless() {
    let pair = VethPair::new('l');
    let _reflector = Reflector::attach(Some(&pair.far_ns), &pair.far).unwrap();
    for len in [60, 1400] {
        let frame = udp_frame(&pair.spec(), len);
        let started = Instant::now();
        let stats =
            latency::measure(Some(&pair.near_ns), &pair.near, &frame, 1000, 10_000, PORT).unwrap();
        let elapsed = started.elapsed();
        assert_eq!((stats.sent, stats.received, stats.lost), (1000, 1000, 0));
        let rtt = stats.rtt.expect("round-trip times");
        eprintln!("latency through fl_reflect, {len} B: {rtt:?} in {elapsed:?}");
        assert!(rtt.min_us > 0.0, "{rtt:?}");
        assert!(rtt.min_us <= rtt.median_us, "{rtt:?}");
        assert!(rtt.median_us < rtt.p99_us, "{rtt:?}");
        assert!(rtt.p99_us <= rtt.max_us, "{rtt:?}");
        // A veth round trip through XDP takes microseconds, not the time between two sends.
        assert!(rtt.median_us < 1000.0, "{rtt:?}");
        // 1000 frames at no more than 10 kpps.
        assert!(elapsed >= Duration::from_millis(99), "{elapsed:?}");
    }
    assert!(
        !VethPair::has_xdp(&pair.near_ns, &pair.near),
        "fl_pass left behind"
    );
}

#[test]
fn latency_counts_what_does_not_come_back() {
    let pair = VethPair::new('k');
    // No reflector: the far end's kernel takes the frames and answers none of them on this port.
    let frame = udp_frame(&pair.spec(), 64);
    let stats = latency::measure(Some(&pair.near_ns), &pair.near, &frame, 50, 1000, PORT).unwrap();
    assert_eq!((stats.sent, stats.received, stats.lost), (50, 0, 50));
    assert_eq!(stats.rtt, None);
    let mut tcp = frame.clone();
    tcp[23] = 6;
    assert!(matches!(
        latency::measure(Some(&pair.near_ns), &pair.near, &tcp, 1, 1000, PORT),
        Err(TestbedError::BadFrame { len: 64, .. })
    ));
    assert!(matches!(
        latency::measure(Some(&pair.near_ns), &pair.near, &frame, 1, 0, PORT),
        Err(TestbedError::ZeroRate)
    ));
}

#[test]
fn errors_name_the_interface() {
    let pair = VethPair::new('e');
    let cfg = GeneratorConfig {
        interface: "flt-missing".into(),
        ..config(&pair, udp_frame(&pair.spec(), 64), None)
    };
    let err = Generator::start(cfg).unwrap_err();
    assert!(matches!(err, TestbedError::Program { .. }), "{err}");
    assert!(err.to_string().contains("flt-missing"), "{err}");
    let err = interface_mac(Some(&pair.near_ns), "flt-missing").unwrap_err();
    assert!(
        err.to_string().contains("SIOCGIFHWADDR on flt-missing"),
        "{err}"
    );
    // Live frames must fit a page with the kernel's headroom and tailroom.
    let jumbo = config(&pair, udp_frame(&pair.spec(), 4000), None);
    let err = Generator::start(jumbo).unwrap_err();
    assert!(
        matches!(&err, TestbedError::Sys { call, source, .. }
            if call.starts_with("BPF_PROG_RUN") && source.raw_os_error() == Some(libc::EINVAL)),
        "{err}"
    );
    assert!(
        !VethPair::has_xdp(&pair.near_ns, &pair.near),
        "sink left after a failed start"
    );
    let short = config(&pair, vec![0; 59], None);
    assert!(matches!(
        Generator::start(short),
        Err(TestbedError::BadFrame { len: 59, .. })
    ));
}

#[test]
fn generator_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Generator>();
    shareable::<Reflector>();
}
