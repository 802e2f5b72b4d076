//! `deployment.mode` `device_plugin` end to end (needs root): this process plays the device
//! plugin (a `HandoffServer` for one allocation holding queue 0 of the test bed's forwarder
//! interface); a "pod" — this binary again, in the forwarder's namespace, turned into uid 65534
//! with no capability in any set and no_new_privs — runs macswap on af_xdp and then on
//! af_packet with every descriptor from the plugin. UDP to the fast port is reflected, ping and
//! TCP are answered by the kernel through the split, the counters are exact; a replayed token
//! and another uid get nothing; once the pod is gone no XDP or tc program, TAP device, socket or
//! memfd of it is left. Without the plugin the same pod fails naming the missing capability.
//!
//! A test without the libtest harness: the pod is this binary started with `FASTLANE_TEST_POD`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use common::suite::{ping, spec, tcp, FAST_PORT};
use common::TestBed;
use fastlane_handoff::{Allocation, Device, HandoffServer, Limits, ServerOptions};
use fastlane_runtime::Dataplane;
use fastlane_sys::process;
use fastlane_testbed::{exchange, udp_frame};
use sha2::{Digest, Sha256};

const POD_ENV: &str = "FASTLANE_TEST_POD";
const NOBODY: u32 = 65534;
const FRAMES: usize = 100;

fn main() {
    if let Ok(role) = std::env::var(POD_ENV) {
        pod(&role);
        return;
    }
    for backend in ["af_xdp", "af_packet"] {
        a_pod_without_capabilities_runs_on_handed_descriptors(backend);
        println!("test device_plugin_{backend}_pod_runs_unprivileged_and_leaves_nothing ... ok");
    }
    the_end_of_the_allocation_takes_everything_from_a_running_pod();
    println!("test the_end_of_the_allocation_takes_everything_from_a_running_pod ... ok");
    without_the_plugin_the_pod_fails_naming_the_capability();
    println!("test without_the_plugin_the_pod_fails_naming_the_capability ... ok");
}

fn pod_config(backend: &str, interface: &str, punt: bool, deployment: &str) -> String {
    let core = fastlane_core::config::online_cpus()
        .last()
        .copied()
        .unwrap_or(0);
    format!(
        r#"{{
        "backend": "{backend}",
        "ports": [{{ "interface": "{interface}", "queues": [{{ "id": 0, "core": {core} }}]{punt} }}],
        "filter": {{ "udp_ports": [{FAST_PORT}] }},
        "af_xdp": {{ "attach_mode": "native", "bind_mode": "auto", "umem_frames": 1024, "frame_size": 2048 }},
        "af_packet": {{ "block_count": 16 }},
        "deployment": {deployment},
        "pipeline": ["count", "macswap"]
    }}"#,
        punt = if punt { r#", "punt": "tap""# } else { "" }
    )
}

/// The pod: drops every privilege, starts the data plane, says `ready` (or `error: ...`), and
/// on `stop` prints its counters and stops.
fn pod(role: &str) {
    let uid = if role == "other-uid" {
        NOBODY - 1
    } else {
        NOBODY
    };
    if let Err(e) = process::become_unprivileged(uid, uid) {
        println!("error: drop privileges: {e}");
        std::process::exit(1);
    }
    let caps = process::capability_sets().expect("read /proc/self/status");
    if !caps.none() || caps.effective != 0 || caps.bounding != 0 {
        println!("error: still privileged: {caps:?}");
        std::process::exit(1);
    }
    let backend = std::env::var("FASTLANE_TEST_BACKEND").unwrap();
    let interface = std::env::var("FASTLANE_TEST_INTERFACE").unwrap();
    let (punt, deployment) = match role {
        "standalone" => (false, r#"{ "mode": "standalone" }"#),
        "standalone-punt" => (true, r#"{ "mode": "standalone" }"#),
        _ => (true, r#"{ "mode": "device_plugin" }"#),
    };
    let config = pod_config(&backend, &interface, punt, deployment);
    let mut dataplane = Dataplane::from_json(&config).unwrap();
    if let Err(e) = dataplane.start() {
        println!("error: {e}");
        std::process::exit(2);
    }
    println!("ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let stats = dataplane.stats().unwrap();
    let q = &stats.queues[0];
    let redirected = stats.ports[0].xdp.as_ref().map_or(0, |x| x.redirected);
    println!(
        "stats rx={} tx={} from_kernel={} kernel={} dropped={} redirected={} tap={}",
        q.rx_packets,
        q.tx_packets,
        q.from_kernel_packets,
        q.kernel_packets,
        q.dropped.iter().map(|(_, n)| n).sum::<u64>(),
        redirected,
        stats.ports[0].tap.clone().unwrap_or_default()
    );
    dataplane.stop();
}

struct Pod {
    child: Child,
    stdin: ChildStdin,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Pod {
    fn start(bed: &TestBed, role: &str, backend: &str, socket: &Path, token: &str) -> Pod {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &bed.fwd_ns])
            .arg(std::env::current_exe().unwrap())
            .env(POD_ENV, role)
            .env("FASTLANE_TEST_BACKEND", backend)
            .env("FASTLANE_TEST_INTERFACE", &bed.fwd_if)
            .env(fastlane_runtime::SOCKET_ENV, socket)
            .env(fastlane_runtime::TOKEN_ENV, token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the pod");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Pod {
            child,
            stdin,
            lines,
        }
    }

    fn line(&mut self) -> String {
        self.lines
            .next()
            .map(|l| l.unwrap())
            .unwrap_or_else(|| "(the pod exited)".into())
    }

    /// The pod's first line, then its exit status.
    fn refused(mut self) -> (String, i32) {
        let line = self.line();
        let status = self.child.wait().unwrap();
        (line, status.code().unwrap_or(-1))
    }
}

/// The descriptors of this process that a handoff makes: memfds, sockets, BPF objects.
fn handoff_fds() -> Vec<(String, String)> {
    let mut fds: Vec<(String, String)> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?.display().to_string();
            let kind = ["memfd:", "socket:", "anon_inode:bpf", "anon_inode:[bpf"];
            kind.iter()
                .any(|k| target.starts_with(k))
                .then(|| (e.file_name().to_string_lossy().into_owned(), target))
        })
        .collect();
    fds.sort();
    fds
}

fn tcx_programs(bed: &TestBed) -> u32 {
    fastlane_core::netns::run_in(Some(&bed.fwd_ns), || {
        fastlane_xdp::tcx_ingress_programs(&bed.fwd_if)
    })
    .unwrap()
    .unwrap()
}

fn links(bed: &TestBed) -> String {
    let out = bed.exec(&bed.fwd_ns, &["ip", "-d", "-o", "link"]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A directory the pod (uid 65534) can reach, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let path =
            std::env::temp_dir().join(format!("fastlane-dp-e2e-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The plugin's side: a server for one allocation holding queue 0 of the forwarder's interface,
/// for uid 65534; returns it, its socket and the token.
fn serve(bed: &TestBed, dir: &Dir, tag: &str) -> (HandoffServer, PathBuf, String) {
    let token = format!(
        "{:x}",
        Sha256::digest(format!("{}-{tag}-{:?}", std::process::id(), Instant::now()))
    );
    let socket = dir.0.join("handoff.sock");
    let server = HandoffServer::start(
        Allocation {
            id: format!("test-{tag}"),
            devices: vec![Device {
                interface: bed.fwd_if.clone(),
                queue: 0,
            }],
            token_sha256: Sha256::digest(token.as_bytes()).into(),
            allowed_uids: vec![NOBODY],
        },
        ServerOptions {
            socket: socket.clone(),
            token_used: dir.0.join("token-used"),
            limits: Limits::default(),
            request_timeout: Duration::from_secs(5),
        },
    )
    .expect("serve the allocation");
    (server, socket, token)
}

fn a_pod_without_capabilities_runs_on_handed_descriptors(backend: &str) {
    let bed = TestBed::up(if backend == "af_xdp" { "dx" } else { "dp" });
    let dir = Dir::new(backend);
    let (server, socket, token) = serve(&bed, &dir, backend);
    let before = handoff_fds();

    // Another uid, holding the right token, gets nothing.
    let (line, code) = Pod::start(&bed, "other-uid", backend, &socket, &token).refused();
    assert_eq!(code, 2, "{line}");
    assert!(
        line.contains("refused: uid 65533 may not use allocation test-")
            && line.contains("(allowed uids: 65534)"),
        "{line}"
    );
    // A wrong token gets nothing.
    let (line, _) = Pod::start(&bed, "pod", backend, &socket, "not-the-token").refused();
    assert!(
        line.contains("refused: the token does not match allocation"),
        "{line}"
    );

    let mut pod = Pod::start(&bed, "pod", backend, &socket, &token);
    let ready = pod.line();
    assert_eq!(
        ready,
        "ready",
        "the pod did not start: {:?}",
        server.take_events()
    );
    let session = server.session().expect("a session");
    assert_eq!(
        (session.uid, session.devices.clone()),
        (NOBODY, vec![format!("{}-q0", bed.fwd_if)])
    );
    let during = links(&bed);
    let tap = format!("fl-{}", bed.fwd_if);
    assert!(
        during.contains(&format!("{tap}:")),
        "the punt TAP is missing:\n{during}"
    );
    if backend == "af_xdp" {
        assert!(
            during.contains("prog/xdp"),
            "no XDP program on the interface:\n{during}"
        );
    } else {
        assert_eq!(
            tcx_programs(&bed),
            1,
            "the tc program keeping fast frames from the kernel"
        );
    }

    // A second connection replaying the token gets nothing, while the first holds its session.
    let (line, _) = Pod::start(&bed, "pod", backend, &socket, &token).refused();
    assert!(
        line.contains("was already used (by pid ")
            && line.contains("a token is good for one handoff"),
        "{line}"
    );

    ping(&bed);
    tcp(&bed);
    let spec = spec(&bed, FAST_PORT);
    let frames: Vec<Vec<u8>> = (0..FRAMES).map(|i| udp_frame(&spec, 60 + i * 10)).collect();
    let mut back = exchange(
        Some(&bed.gen_ns),
        &bed.gen_if,
        &frames,
        FAST_PORT,
        FRAMES,
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(
        back.len(),
        FRAMES,
        "frames reflected by the unprivileged pod"
    );
    back.sort_by_key(Vec::len);
    for (sent, got) in frames.iter().zip(&back) {
        assert_eq!(&got[..6], &sent[6..12]);
        assert_eq!(&got[6..12], &sent[..6]);
        assert_eq!(&got[12..], &sent[12..]);
    }

    writeln!(pod.stdin, "stop").unwrap();
    let stats = pod.line();
    let field = |name: &str| -> u64 {
        stats
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {stats:?}"))
            .parse()
            .unwrap()
    };
    assert!(stats.starts_with("stats "), "{stats}");
    assert_eq!(
        field("rx"),
        FRAMES as u64,
        "only the UDP frames took the fast path: {stats}"
    );
    assert_eq!(field("tx"), FRAMES as u64 + field("from_kernel"), "{stats}");
    assert_eq!(field("dropped"), 0, "{stats}");
    assert_eq!(field("kernel"), 0, "{stats}");
    if backend == "af_xdp" {
        assert_eq!(
            field("redirected"),
            FRAMES as u64,
            "the split's counters through the handed map: {stats}"
        );
    }
    assert!(stats.ends_with(&format!("tap={tap}")), "{stats}");
    let status = pod.child.wait().unwrap();
    assert!(status.success(), "the pod exited with {status}");

    // The pod is gone: so is everything made for it.
    let deadline = Instant::now() + Duration::from_secs(3);
    while server.session().is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.session().is_none(), "the session outlived the pod");
    let after = links(&bed);
    assert!(
        !after.contains("prog/xdp"),
        "an XDP program was left:\n{after}"
    );
    assert!(!after.contains(&tap), "the TAP device was left:\n{after}");
    assert_eq!(tcx_programs(&bed), 0, "a tc program was left");
    assert_eq!(
        handoff_fds(),
        before,
        "the plugin kept a descriptor of the pod's"
    );
    let events = server.take_events();
    assert!(
        events
            .iter()
            .any(|e| e.contains("its programs are detached")),
        "{events:?}"
    );
    server.close(true);
    assert!(!socket.exists(), "the socket outlived the server");
}

fn the_end_of_the_allocation_takes_everything_from_a_running_pod() {
    let bed = TestBed::up("de");
    let dir = Dir::new("end");
    let (server, socket, token) = serve(&bed, &dir, "end");
    let mut pod = Pod::start(&bed, "pod", "af_xdp", &socket, &token);
    assert_eq!(pod.line(), "ready", "{:?}", server.take_events());
    let tap = format!("fl-{}", bed.fwd_if);
    assert!(links(&bed).contains(&format!("{tap}:")));
    // The kubelet gave the device to someone else: the plugin ends the allocation.
    let events = server.close(true);
    assert!(
        events
            .iter()
            .any(|e| e.ends_with("ended with the allocation: its programs are detached")),
        "{events:?}"
    );
    let after = links(&bed);
    assert!(
        !after.contains("prog/xdp"),
        "the XDP program stayed:\n{after}"
    );
    assert!(!after.contains(&tap), "the TAP device stayed:\n{after}");
    // The pod runs on, and gets nothing more.
    let spec = spec(&bed, FAST_PORT);
    let frames: Vec<Vec<u8>> = (0..10).map(|i| udp_frame(&spec, 60 + i)).collect();
    let back = exchange(
        Some(&bed.gen_ns),
        &bed.gen_if,
        &frames,
        FAST_PORT,
        1,
        Duration::from_millis(500),
    )
    .unwrap();
    assert!(
        back.is_empty(),
        "the pod still forwarded after its allocation ended"
    );
    writeln!(pod.stdin, "stop").unwrap();
    let stats = pod.line();
    assert!(stats.starts_with("stats rx=0 "), "{stats}");
    assert!(pod.child.wait().unwrap().success());
}

fn without_the_plugin_the_pod_fails_naming_the_capability() {
    let bed = TestBed::up("dn");
    for (role, backend, wanted) in [
        (
            "standalone",
            "af_xdp",
            &[
                "socket(AF_XDP)",
                "Operation not permitted",
                "needs CAP_NET_RAW",
            ][..],
        ),
        (
            "standalone",
            "af_packet",
            &["af_packet.suppress_kernel needs CAP_BPF and CAP_NET_ADMIN"],
        ),
        (
            "standalone-punt",
            "af_xdp",
            &[
                "TUNSETIFF",
                "Operation not permitted",
                "needs CAP_NET_ADMIN",
            ],
        ),
    ] {
        let (line, code) =
            Pod::start(&bed, role, backend, Path::new("/nonexistent"), "x").refused();
        assert_eq!(code, 2, "{line}");
        for w in wanted {
            assert!(line.contains(w), "{role} {backend}: {w:?} not in {line}");
        }
    }
    // The plugin's socket missing is named as such.
    let (line, code) = Pod::start(
        &bed,
        "pod",
        "af_xdp",
        Path::new("/nonexistent/handoff.sock"),
        "x",
    )
    .refused();
    assert_eq!(code, 2, "{line}");
    assert!(
        line.contains("cannot reach the device plugin at /nonexistent/handoff.sock"),
        "{line}"
    );
}
