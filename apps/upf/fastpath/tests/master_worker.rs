//! GTP-U spread over cores (needs root): one AF_PACKET receive queue on N3 feeds two worker
//! threads, each with its own instance of the plugin; the flow hash sends each inner flow of a
//! tunnel to one worker, and every flow leaves N6 in the order it came.

mod common;

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use fastlane_core::Config;
use fastlane_plugin::host::PluginFactory;
use fastlane_runtime::Dataplane;
use serde_json::json;

/// Two namespaces: the UPF's, with `n3` and `n6`, and the peers' (gNB and data network), with
/// their other ends. Removed when dropped.
struct Net {
    upf: String,
    peers: String,
    n3: String,
    n6: String,
    n3_peer: String,
    n6_peer: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn in_ns(ns: &str, command: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(command)
        .output()
        .expect("run ip netns exec");
    assert!(out.status.success(), "{command:?} in {ns}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Net {
    fn up() -> Net {
        let id = format!("flu{}", std::process::id() % 100_000);
        let net = Net {
            upf: format!("{id}-upf"),
            peers: format!("{id}-peers"),
            n3: format!("{id}n3"),
            n6: format!("{id}n6"),
            n3_peer: format!("{id}g"),
            n6_peer: format!("{id}d"),
        };
        ip(&["netns", "add", &net.upf]);
        ip(&["netns", "add", &net.peers]);
        for ns in [&net.upf, &net.peers] {
            // No IPv6 chatter of the kernel's own on the links.
            in_ns(ns, &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
            in_ns(
                ns,
                &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
            );
        }
        for (a, b) in [(&net.n3, &net.n3_peer), (&net.n6, &net.n6_peer)] {
            ip(&["link", "add", a, "type", "veth", "peer", "name", b]);
            ip(&["link", "set", a, "netns", &net.upf]);
            ip(&["link", "set", b, "netns", &net.peers]);
            ip(&["-n", &net.upf, "link", "set", a, "up"]);
            ip(&["-n", &net.peers, "link", "set", b, "up"]);
        }
        net
    }

    fn mac(&self, ns: &str, interface: &str) -> String {
        in_ns(ns, &["cat", &format!("/sys/class/net/{interface}/address")])
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.upf, &self.peers] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// An AF_PACKET socket on `interface` of namespace `ns`, receiving with a 200 ms timeout into a
/// buffer of 8 MiB.
fn packet_socket(ns: &str, interface: &str) -> OwnedFd {
    let interface = interface.to_owned();
    fastlane_core::netns::run_in(Some(ns), move || {
        let protocol = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2); the descriptor is owned below.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(protocol)) };
        assert!(
            fd >= 0,
            "socket(AF_PACKET): {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: `fd` is a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let name = std::ffi::CString::new(interface).unwrap();
        // SAFETY: a NUL-terminated name.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert!(index > 0);
        // SAFETY: all-zero is a valid sockaddr_ll, filled in below.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol;
        addr.sll_ifindex = index as i32;
        // SAFETY: `addr` is a sockaddr_ll of the size given.
        let bound = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                std::ptr::from_ref(&addr).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(bound, 0, "bind: {}", std::io::Error::last_os_error());
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 200_000,
        };
        // SAFETY: a timeval of the size given.
        let set = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                std::ptr::from_ref(&timeout).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        assert_eq!(set, 0);
        // Room for every frame of the test while it is still sending (root may exceed rmem_max).
        let room: libc::c_int = 8 << 20;
        // SAFETY: an int of the size given.
        let set = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                std::ptr::from_ref(&room).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        assert_eq!(
            set,
            0,
            "SO_RCVBUFFORCE: {}",
            std::io::Error::last_os_error()
        );
        fd
    })
    .unwrap()
}

fn send(fd: &OwnedFd, frame: &[u8]) {
    // SAFETY: `frame` is valid for its length; the socket is bound to its interface.
    let sent = unsafe { libc::send(fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
    assert_eq!(
        sent,
        frame.len() as isize,
        "send: {}",
        std::io::Error::last_os_error()
    );
}

/// The next frame, or `None` after the socket's timeout.
fn receive(fd: &OwnedFd) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 2048];
    // SAFETY: `buf` is writable for its length.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    (n > 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

const FLOWS: u16 = 8;
const PER_FLOW: u16 = 40;

#[test]
fn one_n3_queue_feeds_two_workers_and_every_flow_of_a_tunnel_keeps_its_order() {
    let net = Net::up();
    let mut rules = Bed::new("master-worker", caps());
    rules
        .writer
        .put(1, session(0x100, "10.45.0.7", GNB_V4, 0x8000))
        .unwrap();
    let dn_mac = net.mac(&net.peers, &net.n6_peer);
    rules.next_hop("0.0.0.0", &dn_mac, N6_PORT);
    let n3_mac = net.mac(&net.upf, &net.n3);
    let n6_mac = net.mac(&net.upf, &net.n6);
    let plugin = json!({ "n3_mac": n3_mac, "n6_mac": n6_mac });
    let library = library();
    let cores = fastlane_core::config::online_cpus();
    let workers: Vec<u16> = [cores[0], *cores.last().unwrap()].into();
    let config = json!({
        "backend": "af_packet",
        "netns": net.upf,
        "ports": [
            { "interface": net.n3, "queues": [{ "id": 0, "core": cores[0] }],
              "filter": { "udp_ports": [2152] } },
            { "interface": net.n6, "queues": [{ "id": 0, "core": cores[0] }],
              "filter": { "dst_prefixes": ["10.45.0.0/16"] } }
        ],
        "threads": { "model": "master_worker", "worker_cores": workers, "worker_ring_size": 64 },
        "pipeline": [{ "type": "plugin", "path": library.path(), "config": rules.config(plugin) }]
    });
    let config = Config::from_json(&config.to_string()).unwrap();
    let factory = Arc::new(PluginFactory::new(None));
    let mut dataplane = Dataplane::with_factory(config, factory.clone());
    dataplane.start().unwrap();

    // Flows of one tunnel, interleaved: flow f, packet s carries "F<f>S<s>".
    let mut exprs = Vec::new();
    for s in 0..PER_FLOW {
        for f in 0..FLOWS {
            let inner = format!(
                "IP(src='10.45.0.7', dst='198.51.100.1')/UDP(sport={}, dport=9)/Raw(b'F{f}S{s:03}')",
                40000 + f
            );
            let frame = gpdu(GNB_V4, 0x100, Some(9), &inner).replacen(
                &ether(GNB_MAC, N3_MAC),
                &ether(GNB_MAC, &n3_mac),
                1,
            );
            exprs.push(frame);
        }
    }
    let frames = build(&exprs);
    let workers_of: Vec<u32> = (0..FLOWS as usize)
        .map(|f| fastlane_core::wire::flow_hash(&frames[f]) % 2)
        .collect();
    assert!(
        workers_of.contains(&0) && workers_of.contains(&1),
        "the flows hash to both workers: {workers_of:?}"
    );

    let tx = packet_socket(&net.peers, &net.n3_peer);
    let rx = packet_socket(&net.peers, &net.n6_peer);
    for burst in frames.chunks(16) {
        for frame in burst {
            send(&tx, frame);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut seen: BTreeMap<u16, Vec<u16>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let total = usize::from(FLOWS * PER_FLOW);
    while seen.values().map(Vec::len).sum::<usize>() < total && Instant::now() < deadline {
        let Some(frame) = receive(&rx) else { continue };
        // Ethernet, IPv4 (20), UDP (8), then "F<f>S<sss>".
        let payload = frame.get(42..).unwrap_or_default();
        let text = String::from_utf8_lossy(payload);
        let Some((f, s)) = text
            .strip_prefix('F')
            .and_then(|t| t.split_once('S'))
            .and_then(|(f, s)| Some((f.parse().ok()?, s.get(..3)?.parse().ok()?)))
        else {
            continue;
        };
        assert_eq!(&frame[..6], &mac(&dn_mac), "to the data network's next hop");
        seen.entry(f).or_default().push(s);
    }
    let stats = dataplane.stats().unwrap();
    dataplane.stop();
    for f in 0..FLOWS {
        let got = seen.get(&f).cloned().unwrap_or_default();
        let expected: Vec<u16> = (0..PER_FLOW).collect();
        assert_eq!(
            got, expected,
            "flow {f} arrived whole and in order ({stats:?})"
        );
    }
    // Both workers' instances took their share.
    let instances = factory.counters();
    assert_eq!(instances.len(), 2);
    for instance in &instances {
        assert!(
            instance.counters.get("uplink_packets").unwrap() > 0,
            "each worker forwarded some: {instances:?}"
        );
    }
    let forwarded: u64 = instances
        .iter()
        .map(|i| i.counters.get("uplink_packets").unwrap())
        .sum();
    assert_eq!(forwarded, u64::from(FLOWS * PER_FLOW));
}
