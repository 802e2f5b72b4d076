//! The end-to-end suite every backend passes with the same application: one config, of which
//! only `"backend"` changes. Needs root.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fastlane_core::config::{ProcessorObject, ThreadModel};
use fastlane_core::processor::ProcessorFactory;
use fastlane_core::{Batch, Config, Processor, Verdict};
use fastlane_runtime::{Dataplane, Stats};
use fastlane_testbed::{exchange, interface_mac, udp_frame, UdpFrameSpec};
use fastlane_wire::{EtherType, EthernetFrame, IpProtocol, Ipv4Packet, UdpPacket};

use super::TestBed;

pub const FAST_PORT: u16 = 9000;
/// UDP to this port is fast path too, but the application's punt stage gives it to the kernel.
pub const PUNT_PORT: u16 = 9001;
/// How many datagrams the suite sends to `PUNT_PORT`.
pub const PUNTED: u64 = 10;
/// The pipeline stage, made by [`TestStages`], that punts UDP to `PUNT_PORT` to the kernel.
pub const PUNT_STAGE: &str = "test:punt-to-kernel";

/// Gives the kernel every IPv4 UDP packet to `PUNT_PORT`, as an application does with packets
/// for itself; leaves the rest to the next stage.
struct PuntToKernel;

impl Processor for PuntToKernel {
    fn process(&mut self, batch: &mut Batch) {
        for mut packet in batch.iter_mut() {
            if udp_dst_port(packet.data()) == Some(PUNT_PORT) {
                packet.set_verdict(Verdict::Kernel);
            }
        }
    }
}

/// The destination port of an IPv4 UDP frame.
fn udp_dst_port(frame: &[u8]) -> Option<u16> {
    let ethernet = EthernetFrame::new_checked(frame).ok()?;
    if ethernet.ethertype() != EtherType::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(ethernet.payload()).ok()?;
    if ip.protocol() != IpProtocol::Udp {
        return None;
    }
    Some(UdpPacket::new_checked(ip.payload()).ok()?.dst_port())
}

/// Makes the suite's own pipeline stage and counts how many instances it made.
#[derive(Debug, Default)]
pub struct TestStages {
    made: AtomicUsize,
}

impl ProcessorFactory for TestStages {
    fn create(&self, _stage: usize, spec: &ProcessorObject) -> Result<Box<dyn Processor>, String> {
        match spec {
            ProcessorObject::Plugin { path, .. } if path == PUNT_STAGE => {
                self.made.fetch_add(1, Ordering::Relaxed);
                Ok(Box::new(PuntToKernel))
            }
            other => Err(format!("{other:?} is not a stage of the suite")),
        }
    }
}

/// How DPDK gets its memory in a run of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpdkMemory {
    HugePages,
    NoHuge,
}

/// The application's config. Every backend's section is present, so that moving between
/// mechanisms is the one-line change of `backend`.
pub fn config(
    bed: &TestBed,
    backend: &str,
    vdev: &str,
    memory: DpdkMemory,
    huge_dir: &str,
) -> String {
    let core = fastlane_core::config::online_cpus()
        .last()
        .copied()
        .unwrap_or(0);
    let huge = memory == DpdkMemory::HugePages;
    format!(
        r#"{{
  "backend": "{backend}",
  "netns": "{ns}",
  "ports": [{{
    "interface": "{iface}",
    "queues": [{{ "id": 0, "core": {core} }}],
    "tap": {{ "addresses": ["{fwd_ip}/24"] }},
    "punt": "tap"
  }}],
  "filter": {{ "udp_ports": [{FAST_PORT}, {PUNT_PORT}] }},
  "af_xdp": {{ "attach_mode": "native", "umem_frames": 4096 }},
  "dpdk": {{
    "devices": {{ "{iface}": "{vdev}0,iface={iface}" }},
    "memory_mb": 256,
    "huge_pages": {huge},
    "huge_dir": {huge_dir},
    "in_memory": {in_memory},
    "file_prefix": "fl-test-{pid}",
    "mbufs": 8192
  }},
  "af_packet": {{ "block_count": 16 }},
  "pipeline": ["count", {{ "type": "plugin", "path": "{PUNT_STAGE}" }}, "macswap"]
}}"#,
        ns = bed.fwd_ns,
        iface = bed.fwd_if,
        fwd_ip = bed.fwd_ip,
        in_memory = !huge,
        huge_dir = if huge_dir.is_empty() {
            "null".to_string()
        } else {
            format!("\"{huge_dir}\"")
        },
        pid = std::process::id(),
    )
}

pub fn spec(bed: &TestBed, dst_port: u16) -> UdpFrameSpec {
    UdpFrameSpec {
        src_mac: interface_mac(Some(&bed.gen_ns), &bed.gen_if).unwrap(),
        dst_mac: interface_mac(Some(&bed.fwd_ns), &bed.fwd_if).unwrap(),
        src_ip: bed.gen_ip.parse().unwrap(),
        dst_ip: bed.fwd_ip.parse().unwrap(),
        src_port: 40000,
        dst_port,
        udp_checksum: true,
    }
}

pub fn fast_path_packets(stats: &Stats) -> u64 {
    stats.pipeline[0].packets
}

pub fn dropped(stats: &Stats) -> u64 {
    stats
        .queues
        .iter()
        .flat_map(|q| q.dropped.iter())
        .map(|(_, n)| n)
        .sum()
}

pub fn ping(bed: &TestBed) {
    let ping = bed.exec(
        &bed.gen_ns,
        &["ping", "-c", "3", "-i", "0.2", "-W", "2", &bed.fwd_ip],
    );
    assert!(
        ping.status.success(),
        "ping through the slow path: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
}

pub fn tcp(bed: &TestBed) {
    let mut server = std::process::Command::new("ip")
        .args(["netns", "exec", &bed.fwd_ns, "python3", "-c"])
        .arg(format!(
            "import socket\ns=socket.create_server(('{}', 8080))\ns.settimeout(10)\nc,_=s.accept()\nc.sendall(b'kernel says hi')\nc.close()",
            bed.fwd_ip
        ))
        .spawn()
        .unwrap();
    let client = bed.exec(
        &bed.gen_ns,
        &[
            "python3",
            "-c",
            &format!(
                "import socket,time\nfor _ in range(50):\n  try:\n    c=socket.create_connection(('{}',8080),timeout=2); break\n  except OSError: time.sleep(0.1)\nprint(c.recv(100).decode())",
                bed.fwd_ip
            ),
        ],
    );
    let _ = server.wait();
    assert_eq!(
        String::from_utf8_lossy(&client.stdout).trim(),
        "kernel says hi",
        "TCP through the slow path: {}",
        String::from_utf8_lossy(&client.stderr)
    );
}

fn kernel_packets(stats: &Stats) -> u64 {
    stats.queues.iter().map(|q| q.kernel_packets).sum()
}

/// The device the forwarder's kernel reaches the generator through (the interface, or the TAP
/// twin that holds the address on DPDK).
fn route_device(bed: &TestBed) -> String {
    let out = bed.exec(&bed.fwd_ns, &["ip", "-o", "route", "get", &bed.gen_ip]);
    let route = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = route.split_whitespace();
    words
        .find(|w| *w == "dev")
        .and_then(|_| words.next())
        .unwrap_or_else(|| panic!("no route to the generator: {route}"))
        .to_string()
}

/// Fixes both ends' neighbour entries, so that no ARP runs while counters are compared.
fn pin_neighbours(bed: &TestBed) {
    let gen_mac = interface_mac(Some(&bed.gen_ns), &bed.gen_if).unwrap();
    let fwd_mac = interface_mac(Some(&bed.fwd_ns), &bed.fwd_if).unwrap();
    let text = |mac: [u8; 6]| mac.map(|b| format!("{b:02x}")).join(":");
    let fwd_dev = route_device(bed);
    for (ns, ip, mac, dev) in [
        (&bed.gen_ns, &bed.fwd_ip, text(fwd_mac), &bed.gen_if),
        (&bed.fwd_ns, &bed.gen_ip, text(gen_mac), &fwd_dev),
    ] {
        let out = bed.exec(
            ns,
            &[
                "ip",
                "neigh",
                "replace",
                ip,
                "lladdr",
                &mac,
                "dev",
                dev,
                "nud",
                "permanent",
            ],
        );
        assert!(out.status.success(), "ip neigh replace {ip} in {ns}");
    }
}

/// Fast-path UDP that the application gives to the kernel (`Kernel` verdict): a socket of the
/// forwarder's kernel receives every datagram and its answers reach the generator.
fn punted_to_kernel(bed: &TestBed, dataplane: &Dataplane) {
    pin_neighbours(bed);
    let before = dataplane.stats().unwrap();
    let mut server = Command::new("ip")
        .args(["netns", "exec", &bed.fwd_ns, "python3", "-c"])
        .arg(format!(
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('{fwd}',{PUNT_PORT}))\ns.settimeout(10)\nprint('ready',flush=True)\nn=0\nfor _ in range({PUNTED}):\n  try: d,a=s.recvfrom(2048)\n  except OSError: break\n  s.sendto(b'kernel:'+d,a); n+=1\nprint(n)",
            fwd = bed.fwd_ip
        ))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let client = bed.exec(
        &bed.gen_ns,
        &[
            "python3",
            "-c",
            &format!(
                "import socket\nc=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nc.bind(('{gen}',40001))\nc.settimeout(3)\ngot=0\nfor i in range({PUNTED}):\n  m=b'punt %d'%i\n  c.sendto(m,('{fwd}',{PUNT_PORT}))\n  try: got+=c.recvfrom(2048)[0]==b'kernel:'+m\n  except OSError: pass\nprint(got)",
                gen = bed.gen_ip,
                fwd = bed.fwd_ip
            ),
        ],
    );
    let received = lines.next().map(|l| l.unwrap()).unwrap_or_default();
    let _ = server.wait();
    let after = dataplane.stats().unwrap();
    assert_eq!(
        received,
        PUNTED.to_string(),
        "the kernel's socket received every punted datagram: {after:?}"
    );
    assert_eq!(
        String::from_utf8_lossy(&client.stdout).trim(),
        PUNTED.to_string(),
        "every answer of the kernel came back: {} {}",
        String::from_utf8_lossy(&client.stderr),
        String::from_utf8_lossy(&client.stdout)
    );
    assert_eq!(
        fast_path_packets(&after) - fast_path_packets(&before),
        PUNTED,
        "the punted datagrams took the fast path"
    );
    assert_eq!(
        kernel_packets(&after) - kernel_packets(&before),
        PUNTED,
        "counted as given to the kernel: {after:?}"
    );
    assert_eq!(dropped(&after), 0, "{after:?}");
}

/// How many instances of each pipeline stage `config` needs: one per thread that runs the
/// processors.
fn processing_threads(config: &Config) -> usize {
    match config.threads.model {
        ThreadModel::MasterWorker => config.threads.worker_cores.len(),
        ThreadModel::RunToCompletion => {
            let mut cores: Vec<u16> = config
                .ports
                .iter()
                .flat_map(|p| p.queues.iter().map(|q| q.core))
                .collect();
            cores.sort_unstable();
            cores.dedup();
            cores.len()
        }
    }
}

/// Runs the suite against `config_json` on `bed`; returns the counters as they were at stop.
pub fn run(bed: &TestBed, config_json: &str) -> Stats {
    let config = Config::from_json(config_json).unwrap();
    let stages = Arc::new(TestStages::default());
    let threads = processing_threads(&config);
    let mut dataplane = Dataplane::with_factory(config, stages.clone());
    dataplane.start().unwrap();
    assert_eq!(
        stages.made.load(Ordering::Relaxed),
        threads,
        "one instance of each stage per processing thread"
    );

    // The kernel keeps the slow path: ARP, ICMP and TCP to the forwarder's address.
    ping(bed);
    tcp(bed);

    // The fast path: every UDP frame to the fast port comes back with its MACs swapped.
    let spec = spec(bed, FAST_PORT);
    let frames: Vec<Vec<u8>> = (0..100).map(|i| udp_frame(&spec, 60 + i * 10)).collect();
    let back = exchange(
        Some(&bed.gen_ns),
        &bed.gen_if,
        &frames,
        FAST_PORT,
        100,
        Duration::from_secs(5),
    )
    .unwrap();
    let lens: Vec<usize> = back.iter().map(Vec::len).collect();
    assert_eq!(
        back.len(),
        100,
        "returned lengths: {lens:?}; {:?}",
        dataplane.stats()
    );
    let mut back = back;
    back.sort_by_key(Vec::len);
    for (sent, got) in frames.iter().zip(&back) {
        assert_eq!(&got[..6], &sent[6..12], "destination MAC is the sender's");
        assert_eq!(&got[6..12], &sent[..6], "source MAC is the forwarder's");
        assert_eq!(
            &got[12..],
            &sent[12..],
            "the rest of the frame is untouched"
        );
    }
    let stats = dataplane.stats().unwrap();
    assert_eq!(
        fast_path_packets(&stats),
        100,
        "only the UDP frames took the fast path: {stats:?}"
    );
    let q = &stats.queues[0];
    assert_eq!(q.tx_packets, 100 + q.from_kernel_packets, "{q:?}");
    assert_eq!(dropped(&stats), 0, "{q:?}");

    // Malformed frames to the fast port never reach the fast path and never stop it.
    let good = udp_frame(&spec, 60);
    let eth = 14;
    let mut malformed = Vec::new();
    for edit in [
        (&|f: &mut Vec<u8>| f[eth] = 0x43) as &dyn Fn(&mut Vec<u8>), // IHL below 5
        &|f| f[eth] = 0x4f,                                          // IHL beyond the frame
        &|f| f[eth + 2..eth + 4].copy_from_slice(&1500u16.to_be_bytes()), // total length too long
        &|f| f[eth + 6] |= 0x20,                                     // a fragment
        &|f| f[12..14].copy_from_slice(&[0x86, 0xdd]),               // IPv6 EtherType, IPv4 inside
        &|f| f.truncate(eth + 20 + 4),                               // UDP header cut short
    ] {
        let mut frame = good.clone();
        edit(&mut frame);
        malformed.push(frame);
    }
    let back = exchange(
        Some(&bed.gen_ns),
        &bed.gen_if,
        &malformed,
        FAST_PORT,
        1,
        Duration::from_millis(800),
    )
    .unwrap();
    assert!(back.is_empty(), "a malformed frame was reflected");
    let after = dataplane.stats().unwrap();
    assert_eq!(
        fast_path_packets(&after),
        100,
        "a malformed frame reached the fast path"
    );
    assert!(dataplane.failure().is_none());
    let back = exchange(
        Some(&bed.gen_ns),
        &bed.gen_if,
        &[good],
        FAST_PORT,
        1,
        Duration::from_secs(3),
    )
    .unwrap();
    assert_eq!(
        back.len(),
        1,
        "the fast path still forwards: {:?}",
        dataplane.stats()
    );

    // The application punts fast-path packets to the kernel, which answers them.
    punted_to_kernel(bed, &dataplane);

    dataplane.stop();
    let link = bed.fwd_link();
    assert!(!link.contains("prog/xdp"), "XDP left attached:\n{link}");
    let links = bed.exec(&bed.fwd_ns, &["ip", "-o", "link"]);
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        !links.contains("fl-"),
        "a TAP device was left behind:\n{links}"
    );
    // Counters stay readable after stop.
    let last = dataplane.stats().unwrap();
    assert_eq!(fast_path_packets(&last), 101 + PUNTED);
    last
}

/// Hugepages for a DPDK run: reserves them, mounts a hugetlbfs of our own, and puts everything
/// back when dropped.
pub struct HugePages {
    pub dir: String,
    previous: String,
}

const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

impl HugePages {
    pub fn reserve(pages: u32) -> HugePages {
        let previous = std::fs::read_to_string(NR_HUGEPAGES)
            .unwrap()
            .trim()
            .to_string();
        let wanted = pages.max(previous.parse().unwrap_or(0));
        std::fs::write(NR_HUGEPAGES, wanted.to_string()).unwrap();
        let dir = std::env::temp_dir().join(format!("fl-huge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.to_string_lossy().into_owned();
        let status = std::process::Command::new("mount")
            .args(["-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", &dir])
            .status()
            .unwrap();
        assert!(status.success(), "mount hugetlbfs on {dir}");
        HugePages { dir, previous }
    }

    /// Files DPDK left in our hugetlbfs.
    pub fn leftovers(&self) -> usize {
        std::fs::read_dir(&self.dir).map(|d| d.count()).unwrap_or(0)
    }
}

impl Drop for HugePages {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
        let _ = std::fs::write(NR_HUGEPAGES, &self.previous);
    }
}

/// Runs the suite on DPDK with vdev `vdev` (`net_af_xdp`, `net_af_packet`).
pub fn run_dpdk(vdev: &str, memory: DpdkMemory) {
    let bed = TestBed::up(&vdev[4..6]);
    let huge = (memory == DpdkMemory::HugePages).then(|| HugePages::reserve(256));
    let dir = huge.as_ref().map(|h| h.dir.clone()).unwrap_or_default();
    run_dpdk_on(&bed, &config(&bed, "dpdk", vdev, memory, &dir));
    if let Some(huge) = &huge {
        assert_eq!(huge.leftovers(), 0, "DPDK left hugepage files behind");
    }
}

/// The IPv4 addresses (`10.0.0.2/24`) `interface` holds in `ns`.
pub fn addresses(bed: &TestBed, ns: &str, interface: &str) -> Vec<String> {
    let out = bed.exec(ns, &["ip", "-o", "-4", "addr", "show", "dev", interface]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            words.find(|w| *w == "inet").and(words.next())
        })
        .map(str::to_string)
        .collect()
}

/// Runs the suite on DPDK over the forwarder's kernel interface, which keeps the address its TAP
/// twin is given: the runtime moves it to the TAP for the run (the suite's ping and TCP reach
/// the kernel through the TAP) and gives it back at stop.
pub fn run_dpdk_on(bed: &TestBed, config_json: &str) {
    let address = format!("{}/24", bed.fwd_ip);
    assert_eq!(
        addresses(bed, &bed.fwd_ns, &bed.fwd_if),
        std::slice::from_ref(&address)
    );
    run(bed, config_json);
    assert_eq!(
        addresses(bed, &bed.fwd_ns, &bed.fwd_if),
        [address],
        "the interface has its address back after stop"
    );
}

/// The same config under the master-worker model, with a worker on each usable core.
pub fn master_worker(config_json: &str) -> String {
    let cores: Vec<String> = fastlane_core::config::online_cpus()
        .iter()
        .map(u16::to_string)
        .collect();
    let threads = format!(
        r#""threads": {{ "model": "master_worker", "worker_cores": [{}], "worker_ring_size": 64 }},
  "pipeline""#,
        cores.join(", ")
    );
    config_json.replacen("\"pipeline\"", &threads, 1)
}
