//! The end-to-end suite every backend passes with the same application: one config, of which
//! only `"backend"` changes. Needs root.

use std::time::Duration;

use fastlane_runtime::{Dataplane, Stats};
use fastlane_testbed::{exchange, interface_mac, udp_frame, UdpFrameSpec};

use super::TestBed;

pub const FAST_PORT: u16 = 9000;

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
    "tap": {{ "addresses": ["{fwd_ip}/24"] }}
  }}],
  "filter": {{ "udp_ports": [{FAST_PORT}] }},
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
  "pipeline": ["count", "macswap"]
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

fn spec(bed: &TestBed, dst_port: u16) -> UdpFrameSpec {
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

fn fast_path_packets(stats: &Stats) -> u64 {
    stats.pipeline[0].packets
}

fn dropped(stats: &Stats) -> u64 {
    stats
        .queues
        .iter()
        .flat_map(|q| q.dropped.iter())
        .map(|(_, n)| n)
        .sum()
}

fn ping(bed: &TestBed) {
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

fn tcp(bed: &TestBed) {
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

/// Runs the suite against `config_json` on `bed`; returns the counters as they were at stop.
pub fn run(bed: &TestBed, config_json: &str) -> Stats {
    let mut dataplane = Dataplane::from_json(config_json).unwrap();
    dataplane.start().unwrap();

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
    assert_eq!(fast_path_packets(&last), 101);
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
    // DPDK owns the port: the forwarder's address lives on the slow path's TAP device.
    let out = bed.exec(&bed.fwd_ns, &["ip", "addr", "flush", "dev", &bed.fwd_if]);
    assert!(out.status.success());
    let huge = (memory == DpdkMemory::HugePages).then(|| HugePages::reserve(256));
    let dir = huge.as_ref().map(|h| h.dir.clone()).unwrap_or_default();
    run(&bed, &config(&bed, "dpdk", vdev, memory, &dir));
    if let Some(huge) = &huge {
        assert_eq!(huge.leftovers(), 0, "DPDK left hugepage files behind");
    }
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
