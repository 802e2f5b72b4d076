//! The TAP device in fresh network namespaces (`flp…`, removed when a test ends, even by a panic):
//! what the kernel makes of it, the kernel answering ARP and ping written into it, and queue I/O
//! that never allocates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use fastlane_tap::{Tap, TapError, TapQueue, TapSpec};
use fastlane_wire::checksum;
use serde_json::Value;

/// The system allocator, counting the allocations of threads that asked for it.
struct CountingAllocator;

thread_local! {
    /// Allocations of this thread since counting began, or `None` when not counting.
    static ALLOCATIONS: Cell<Option<usize>> = const { Cell::new(None) };
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get().map(|n| n + 1)));
        // SAFETY: the caller's guarantees about `layout` hold for the system allocator too.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, that is from the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const TAP_MAC: [u8; 6] = [0x02, 0x46, 0x4c, 0x50, 0x00, 0x02];
const PEER_MAC: [u8; 6] = [0x02, 0x46, 0x4c, 0x50, 0x00, 0x01];
const TAP_IP: Ipv4Addr = Ipv4Addr::new(10, 80, 0, 2);
const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 80, 0, 1);

/// A network namespace that exists as long as this value.
struct Namespace {
    name: String,
}

impl Namespace {
    fn new(tag: &str) -> Namespace {
        let name = format!("flp{}{tag}", std::process::id() % 100_000);
        let namespace = Namespace { name };
        namespace.command(&["ip", "netns", "add", &namespace.name]);
        namespace.command(&["ip", "-n", &namespace.name, "link", "set", "lo", "up"]);
        namespace
    }

    /// Runs a command that must succeed.
    fn command(&self, args: &[&str]) -> Output {
        let out = Command::new(args[0])
            .args(&args[1..])
            .output()
            .expect("run command");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `ip -n NS ARGS`, whether it succeeds or not.
    fn ip(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .expect("run ip")
    }

    /// `ip -j -n NS ARGS`, parsed.
    fn ip_json(&self, args: &[&str]) -> Value {
        let out = self.ip(&[&["-j"], args].concat());
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("ip -j prints JSON")
    }

    fn link_exists(&self, device: &str) -> bool {
        self.ip(&["link", "show", "dev", device]).status.success()
    }

    /// Runs `work` on a thread inside the namespace.
    fn run<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        fastlane_core::netns::run_in(Some(&self.name), work).expect("enter the namespace")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn spec(name: &str) -> TapSpec {
    TapSpec {
        name: name.to_string(),
        mac: TAP_MAC,
        addresses: vec![
            (IpAddr::V4(TAP_IP), 24),
            ("fd80::2".parse().expect("an IPv6 address"), 64),
        ],
        mtu: Some(1400),
        queues: 2,
    }
}

/// Reads every queue until a frame satisfies `wanted`, waiting in `poll` on the queues'
/// descriptors; fails after two seconds.
fn await_frame(queues: &mut [TapQueue], wanted: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        for queue in queues.iter_mut() {
            let burst = queue.read_frames(64);
            assert!(burst.error().is_none(), "read: {:?}", burst.error());
            if let Some(frame) = burst.iter().find(|frame| wanted(frame)) {
                return frame.to_vec();
            }
        }
        let mut fds: Vec<libc::pollfd> = queues
            .iter()
            .map(|queue| libc::pollfd {
                fd: queue.fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // SAFETY: the pointer and count describe `fds`, which lives across the call.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        assert!(rc >= 0, "poll: {}", std::io::Error::last_os_error());
    }
    panic!("the kernel sent no such frame within 2 s");
}

fn ethernet(destination: [u8; 6], source: [u8; 6], ether_type: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = [&destination[..], &source[..], &ether_type.to_be_bytes()].concat();
    frame.extend_from_slice(payload);
    frame
}

fn arp_request(target: Ipv4Addr) -> Vec<u8> {
    let mut arp = vec![0, 1, 0x08, 0x00, 6, 4, 0, 1];
    arp.extend_from_slice(&PEER_MAC);
    arp.extend_from_slice(&PEER_IP.octets());
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&target.octets());
    ethernet([0xff; 6], PEER_MAC, 0x0806, &arp)
}

fn echo_request(id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut icmp = [&[8u8, 0, 0, 0][..], &id.to_be_bytes(), &seq.to_be_bytes()].concat();
    icmp.extend_from_slice(payload);
    let checksum = checksum::checksum(&icmp);
    icmp[2..4].copy_from_slice(&checksum.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 1, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&PEER_IP.octets());
    ip.extend_from_slice(&TAP_IP.octets());
    let checksum = checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ethernet(TAP_MAC, PEER_MAC, 0x0800, &ip)
}

#[test]
fn device_has_the_configured_name_mac_mtu_queues_and_addresses() {
    let ns = Namespace::new("c");
    let tap = ns
        .run(|| Tap::create(&spec("flptc")))
        .expect("create the TAP");
    assert_eq!(tap.name(), "flptc");
    assert_eq!(tap.queue_count(), 2);

    let link = &ns.ip_json(&["-d", "link", "show", "dev", "flptc"])[0];
    assert_eq!(link["ifname"], "flptc");
    assert_eq!(link["address"], "02:46:4c:50:00:02");
    assert_eq!(link["mtu"], 1400);
    assert!(
        link["flags"].as_array().unwrap().contains(&"UP".into()),
        "{link}"
    );
    let tun = &link["linkinfo"];
    assert_eq!(tun["info_kind"], "tun", "{link}");
    let data = &tun["info_data"];
    assert_eq!(data["type"], "tap", "{link}");
    assert_eq!(data["pi"], false, "{link}");
    assert_eq!(data["multi_queue"], true, "{link}");
    assert_eq!(data["numqueues"], 2, "{link}");
    assert_eq!(data["persist"], false, "{link}");

    let addresses = &ns.ip_json(&["addr", "show", "dev", "flptc"])[0]["addr_info"];
    let find = |local: &str| {
        addresses
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["local"] == local)
            .unwrap_or_else(|| panic!("no {local} in {addresses}"))
            .clone()
    };
    let v4 = find("10.80.0.2");
    assert_eq!(
        (&v4["family"], &v4["prefixlen"]),
        (&"inet".into(), &24.into())
    );
    assert_eq!(v4["broadcast"], "10.80.0.255");
    let v6 = find("fd80::2");
    assert_eq!(
        (&v6["family"], &v6["prefixlen"]),
        (&"inet6".into(), &64.into())
    );
}

#[test]
fn kernel_answers_arp_and_ping_written_into_a_queue() {
    let ns = Namespace::new("a");
    let mut tap = ns
        .run(|| Tap::create(&spec("flpta")))
        .expect("create the TAP");
    let mut queues = [tap.take_queue(0), tap.take_queue(1)];

    let request = arp_request(TAP_IP);
    let outcome = queues[0].write_frames(std::iter::once(&request[..]));
    assert_eq!((outcome.written, outcome.dropped), (1, 0));
    let reply = await_frame(&mut queues, |f| f.len() >= 42 && f[12..14] == [0x08, 0x06]);
    assert_eq!(reply[0..6], PEER_MAC, "to the asker");
    assert_eq!(reply[6..12], TAP_MAC, "from the TAP's MAC");
    assert_eq!(reply[20..22], [0, 2], "an ARP reply");
    assert_eq!(reply[22..28], TAP_MAC, "sender hardware address");
    assert_eq!(reply[28..32], TAP_IP.octets(), "sender protocol address");
    assert_eq!(reply[32..38], PEER_MAC, "target hardware address");
    assert_eq!(reply[38..42], PEER_IP.octets(), "target protocol address");

    let payload: Vec<u8> = (0..56).collect();
    let ping = echo_request(0x4c50, 7, &payload);
    let outcome = queues[1].write_frames([&ping[..]].into_iter());
    assert_eq!((outcome.written, outcome.dropped), (1, 0));
    let is_echo_reply = |f: &[u8]| {
        f.len() >= 42
            && f[12..14] == [0x08, 0x00]
            && f[23] == 1
            && f[34] == 0
            && f[38..40] == [0x4c, 0x50]
    };
    let reply = await_frame(&mut queues, is_echo_reply);
    assert_eq!(reply[0..6], PEER_MAC);
    assert_eq!(reply[6..12], TAP_MAC);
    let header_len = usize::from(reply[14] & 0x0f) * 4;
    let (ip, icmp) = reply[14..].split_at(header_len);
    assert_eq!(checksum::sum(ip), 0xffff, "IPv4 header checksum");
    assert_eq!(ip[12..16], TAP_IP.octets());
    assert_eq!(ip[16..20], PEER_IP.octets());
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let icmp = &icmp[..total - header_len];
    assert_eq!(checksum::sum(icmp), 0xffff, "ICMP checksum");
    assert_eq!(icmp[4..8], [0x4c, 0x50, 0, 7], "identifier and sequence");
    assert_eq!(icmp[8..], payload[..]);

    // A frame shorter than an Ethernet header is refused, not fatal.
    let outcome = queues[0].write_frames([&[0u8; 4][..], &request[..]].into_iter());
    assert_eq!((outcome.written, outcome.dropped), (1, 1));
}

#[test]
fn reading_an_idle_queue_returns_nothing_at_once() {
    let ns = Namespace::new("i");
    // No IPv6, so that the kernel has nothing of its own (DAD, MLD) to send on the TAP.
    ns.command(&[
        "ip",
        "netns",
        "exec",
        &ns.name,
        "sysctl",
        "-qw",
        "net.ipv6.conf.all.disable_ipv6=1",
        "net.ipv6.conf.default.disable_ipv6=1",
    ]);
    let spec = TapSpec {
        addresses: vec![(IpAddr::V4(TAP_IP), 24)],
        queues: 1,
        ..spec("flpti")
    };
    let mut tap = ns.run(|| Tap::create(&spec)).expect("create the TAP");
    let mut queue = tap.take_queue(0);
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = Instant::now();
        let burst = queue.read_frames(64);
        let _ = done.send((burst.len(), burst.error().is_some(), started.elapsed()));
    });
    let (frames, failed, took) = result
        .recv_timeout(Duration::from_secs(2))
        .expect("read_frames on an idle queue blocked");
    assert_eq!((frames, failed), (0, false));
    assert!(took < Duration::from_millis(50), "took {took:?}");
}

#[test]
fn device_goes_away_with_its_last_queue() {
    let ns = Namespace::new("d");
    let mut tap = ns
        .run(|| Tap::create(&spec("flptd")))
        .expect("create the TAP");
    let queue = tap.take_queue(1);
    drop(tap);
    assert!(ns.link_exists("flptd"), "a taken queue keeps the device");
    let link = &ns.ip_json(&["-d", "link", "show", "dev", "flptd"])[0];
    assert_eq!(link["linkinfo"]["info_data"]["numqueues"], 1, "{link}");
    let fd = queue.fd();
    assert!(fd >= 0 && fd == std::os::fd::AsFd::as_fd(&queue).as_raw_fd());
    drop(queue);
    let deadline = Instant::now() + Duration::from_secs(2);
    while ns.link_exists("flptd") {
        assert!(Instant::now() < deadline, "flptd outlived its queues");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_device_is_deleted_while_its_queues_are_still_open() {
    let ns = Namespace::new("x");
    let export = ns
        .run(|| Tap::create(&spec("flptx")))
        .expect("create the TAP")
        .export();
    assert_eq!(export.queues.len(), 2);
    assert!(ns.link_exists("flptx"));
    assert!(ns.run(|| fastlane_tap::delete_device("flptx")).unwrap());
    assert!(!ns.link_exists("flptx"), "held queues kept the device");
    assert!(
        !ns.run(|| fastlane_tap::delete_device("flptx")).unwrap(),
        "a second delete found one"
    );
    drop(export);
}

#[test]
fn bad_specs_are_refused_with_a_message_naming_the_culprit() {
    let ns = Namespace::new("e");
    let create = |spec: TapSpec| {
        ns.run(|| Tap::create(&spec))
            .map(|tap| tap.name().to_string())
    };

    let error = create(spec("flp bad")).unwrap_err();
    assert!(matches!(error, TapError::InvalidName { .. }), "{error}");
    assert!(error.to_string().contains("\"flp bad\""), "{error}");

    let error = create(spec("lo")).unwrap_err();
    assert!(matches!(error, TapError::Exists { .. }), "{error}");
    assert!(error.to_string().contains("TAP device lo:"), "{error}");

    let error = create(TapSpec {
        mac: [0x01, 0, 0x5e, 0, 0, 1],
        ..spec("flpte")
    })
    .unwrap_err();
    assert!(error.to_string().contains("01:00:5e:00:00:01"), "{error}");

    let error = create(TapSpec {
        addresses: vec![(IpAddr::V4(TAP_IP), 33)],
        ..spec("flpte")
    })
    .unwrap_err();
    assert!(error.to_string().contains("10.80.0.2/33"), "{error}");

    let error = create(TapSpec {
        mtu: Some(70_000),
        ..spec("flpte")
    })
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("flpte") && text.contains("SIOCSIFMTU 70000"),
        "{text}"
    );
    assert!(!ns.link_exists("flpte"), "a failed create leaves no device");

    let twice = (IpAddr::V4(TAP_IP), 24);
    let error = create(TapSpec {
        addresses: vec![twice, twice],
        ..spec("flpte")
    })
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("RTM_NEWADDR 10.80.0.2/24") && text.contains("File exists"),
        "{text}"
    );
    assert!(!ns.link_exists("flpte"), "a failed create leaves no device");

    let error = create(TapSpec {
        addresses: vec![("ff02::5".parse().unwrap(), 64)],
        ..spec("flpte")
    })
    .unwrap_err();
    let TapError::Netlink { message, .. } = &error else {
        panic!("{error}");
    };
    assert!(
        message.as_deref().unwrap_or("").contains("multicast"),
        "the kernel's own text: {error}"
    );
}

#[test]
fn frames_longer_than_the_read_slots_are_counted_not_returned() {
    let ns = Namespace::new("o");
    let spec = TapSpec {
        queues: 1,
        ..spec("flpto")
    };
    let mut tap = ns.run(|| Tap::create(&spec)).expect("create the TAP");
    let mut queues = [tap.take_queue(0)];
    // The slots were sized for MTU 1400; a bigger MTU lets the kernel send longer frames.
    ns.command(&["ip", "-n", &ns.name, "link", "set", "flpto", "mtu", "3000"]);
    let request = arp_request(TAP_IP);
    let payload = vec![0x5a; 2000];
    let ping = echo_request(0x4c50, 1, &payload);
    let outcome = queues[0].write_frames([&request[..], &ping[..]].into_iter());
    assert_eq!((outcome.written, outcome.dropped), (2, 0));

    let deadline = Instant::now() + Duration::from_secs(2);
    let mut oversized = 0;
    while oversized == 0 {
        assert!(Instant::now() < deadline, "no oversized frame seen");
        let burst = queues[0].read_frames(64);
        assert!(burst.error().is_none(), "read: {:?}", burst.error());
        assert!(burst.iter().all(|frame| frame.len() <= 1400 + 22));
        oversized += burst.oversized();
        drop(burst);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(oversized, 1);
}

#[test]
fn queue_reads_and_writes_do_not_allocate() {
    let ns = Namespace::new("m");
    let spec = TapSpec {
        queues: 1,
        ..spec("flptm")
    };
    let mut tap = ns.run(|| Tap::create(&spec)).expect("create the TAP");
    let mut queue = tap.take_queue(0);
    let request = arp_request(TAP_IP);
    let ping = echo_request(0x4c50, 3, &[0x11; 32]);

    ALLOCATIONS.with(|count| count.set(Some(0)));
    let outcome = queue.write_frames([&request[..], &ping[..]].into_iter());
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut replies = 0;
    while replies < 2 && Instant::now() < deadline {
        let burst = queue.read_frames(64);
        replies += burst
            .iter()
            .filter(|f| f.len() > 14 && (f[12..14] == [0x08, 0x06] || f[12..14] == [0x08, 0x00]))
            .count();
        drop(burst);
        std::thread::sleep(Duration::from_millis(5));
    }
    let allocations = ALLOCATIONS.with(|count| count.replace(None));
    assert_eq!((outcome.written, replies), (2, 2));
    assert_eq!(allocations, Some(0));
}
