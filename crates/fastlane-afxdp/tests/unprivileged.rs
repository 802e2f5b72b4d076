//! AF_XDP handed to an unprivileged process, as a device plugin hands it to a pod: this process
//! (root) creates two sockets (two ports) around one memfd UMEM, binds them (the second with
//! XDP_SHARED_UMEM), and sends the sockets, the memfd and the ports' XSKMAPs over SCM_RIGHTS to a
//! child that drops to uid 65534 with no capability at all. The child puts the sockets in the
//! XSKMAPs, adopts sockets and UMEM, and reflects UDP frames with their MACs swapped; this process
//! checks every frame comes back on its port. Needs root.
//!
//! A test without the libtest harness: the child is this binary again, started with
//! `FASTLANE_ADOPT_FD` naming its end of the socket pair.

// Shared with veth.rs, which uses the helpers this test does not.
#[allow(dead_code)]
mod common;

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{test_frame, test_seq, Bed};
use fastlane_afxdp::{adopt_thread, export_thread, AfXdpExport, RingSizes, XskLayout};
use fastlane_core::config::{AfXdpConfig, BindMode};
use fastlane_core::netns::run_in;
use fastlane_core::{Batch, QueueCounters, QueueSpec, ThreadIo, Verdict};
use fastlane_sys::{bpf, process, unix, xsk};

const CHILD_ENV: &str = "FASTLANE_ADOPT_FD";
const NOBODY: u32 = 65534;
const FRAMES: u32 = 64;
/// Two ports on one thread: the second socket shares the first one's UMEM.
const PORTS: usize = 2;

fn main() {
    match std::env::var(CHILD_ENV) {
        Ok(fd) => child(fd.parse().expect("descriptor number")),
        Err(_) => {
            parent();
            println!("test unprivileged_process_runs_af_xdp_from_handed_descriptors ... ok");
        }
    }
}

/// The layout and queues as plain data, sent beside the descriptors: nine layout words, then
/// per queue its port, queue number and interface name (length-prefixed).
fn encode(layout: &XskLayout, queues: &[QueueSpec]) -> Vec<u8> {
    let words = [
        layout.umem_frames,
        layout.frame_size,
        layout.frame_headroom,
        layout.rings.rx,
        layout.rings.tx,
        layout.rings.fill,
        layout.rings.completion,
        u32::from(layout.need_wakeup),
        u32::from(layout.busy_poll),
    ];
    let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
    for q in queues {
        bytes.extend_from_slice(&q.port.to_ne_bytes());
        bytes.extend_from_slice(&q.queue.to_ne_bytes());
        bytes.push(q.interface.len() as u8);
        bytes.extend_from_slice(q.interface.as_bytes());
    }
    bytes
}

fn decode(bytes: &[u8]) -> (XskLayout, Vec<QueueSpec>) {
    let word = |i: usize| u32::from_ne_bytes(bytes[i * 4..i * 4 + 4].try_into().unwrap());
    let layout = XskLayout {
        umem_frames: word(0),
        frame_size: word(1),
        frame_headroom: word(2),
        rings: RingSizes {
            rx: word(3),
            tx: word(4),
            fill: word(5),
            completion: word(6),
        },
        need_wakeup: word(7) != 0,
        busy_poll: word(8) != 0,
    };
    let mut queues = Vec::new();
    let mut rest = &bytes[36..];
    while !rest.is_empty() {
        let len = rest[4] as usize;
        queues.push(QueueSpec {
            port: u16::from_ne_bytes([rest[0], rest[1]]),
            queue: u16::from_ne_bytes([rest[2], rest[3]]),
            interface: String::from_utf8(rest[5..5 + len].to_vec()).unwrap(),
        });
        rest = &rest[5 + len..];
    }
    (layout, queues)
}

fn recv_message(socket: BorrowedFd<'_>, timeout: Duration) -> (Vec<u8>, Vec<OwnedFd>) {
    let mut buf = vec![0u8; 256];
    let (len, fds) = unix::recv_fds_within(socket, &mut buf, 8, timeout).expect("receive");
    buf.truncate(len);
    (buf, fds)
}

fn parent() {
    let bed = Bed::new('u', PORTS);
    let cfg = AfXdpConfig {
        bind_mode: BindMode::Copy,
        rx_ring_size: 128,
        tx_ring_size: 128,
        fill_ring_size: 128,
        completion_ring_size: 128,
        umem_frames: 256,
        frame_size: 2048,
        ..AfXdpConfig::default()
    };
    // Port n is queue 0 of pair n; the second socket shares the first one's UMEM.
    let queues: Vec<QueueSpec> = (0..PORTS)
        .map(|n| QueueSpec {
            port: n as u16,
            interface: bed.pairs[n].fwd.clone(),
            queue: 0,
        })
        .collect();
    let export = run_in(Some(&bed.fwd.0), || export_thread(&cfg, &queues, 32))
        .expect("enter forwarder namespace")
        .expect("export AF_XDP thread");
    let map_fds: Vec<OwnedFd> = bed
        .pairs
        .iter()
        .map(|pair| {
            let map = pair.redirect.map("xsks").expect("xsks map");
            let aya::maps::Map::XskMap(map) = map else {
                panic!("xsks is not an XSKMAP")
            };
            map.fd().as_fd().try_clone_to_owned().expect("dup XSKMAP")
        })
        .collect();

    let (ours, theirs) = unix::seqpacket_pair().expect("socket pair");
    // The child inherits its end across exec.
    unix::inherit_on_exec(&theirs).expect("let the child inherit its end");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_ENV, theirs.as_raw_fd().to_string())
        .spawn()
        .expect("start the unprivileged child");
    drop(theirs);

    let mut fds = export.fds();
    fds.extend(map_fds.iter().map(AsFd::as_fd));
    unix::send_fds(&ours, &encode(&export.layout, &queues), &fds).expect("send descriptors");
    // The child holds the only copies now: this process keeps no socket, UMEM or map of them.
    drop(fds);
    drop(export);
    drop(map_fds);

    let (ready, _) = recv_message(ours.as_fd(), Duration::from_secs(10));
    assert_eq!(
        ready,
        b"ready",
        "child: {}",
        String::from_utf8_lossy(&ready)
    );

    for (n, pair) in bed.pairs.iter().enumerate() {
        let generator = bed.generator(n);
        for seq in 0..FRAMES {
            let frame = test_frame(&pair.fwd_mac, &pair.gen_mac, seq, 64 + seq as usize * 16);
            generator.send(&frame);
            let back = generator
                .recv_matching(Duration::from_secs(2), |f| test_seq(f) == Some(seq))
                .unwrap_or_else(|| panic!("frame {seq} did not come back on port {n}"));
            let mut expected = frame.clone();
            expected[..6].copy_from_slice(&pair.gen_mac);
            expected[6..12].copy_from_slice(&pair.fwd_mac);
            assert_eq!(back, expected, "frame {seq} came back altered on port {n}");
        }
    }

    unix::send_fds(&ours, b"stop", &[]).expect("stop the child");
    let (report, _) = recv_message(ours.as_fd(), Duration::from_secs(10));
    let report = String::from_utf8(report).unwrap();
    assert_eq!(
        report,
        format!("forwarded {}", FRAMES as usize * PORTS),
        "child's report"
    );
    let status = child.wait().expect("wait for the child");
    assert!(status.success(), "child exited with {status}");
}

/// Fails the child with a message the parent shows (the parent's assertion on "ready" prints it).
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
    // SAFETY: plain getters.
    let (uid, euid) = unsafe { (libc::getuid(), libc::geteuid()) };
    if !caps.none() || (uid, euid) != (NOBODY, NOBODY) {
        fail(
            &control,
            format!("still privileged: uid {uid}/{euid}, {caps:?}"),
        );
    }
    // Proof that the socket could not have been made here.
    match xsk::socket() {
        Err(e) if e.is(libc::EPERM) => {}
        other => fail(&control, format!("socket(AF_XDP) as nobody: {other:?}")),
    }

    let (payload, mut fds) = recv_message(control.as_fd(), Duration::from_secs(10));
    let (layout, queues) = decode(&payload);
    // The memfd, one socket per queue, one XSKMAP per queue.
    if fds.len() != 1 + 2 * queues.len() {
        fail(
            &control,
            format!("{} descriptors for {} queues", fds.len(), queues.len()),
        );
    }
    let maps = fds.split_off(1 + queues.len());
    for ((q, socket), map) in queues.iter().zip(&fds[1..]).zip(&maps) {
        if let Err(e) = bpf::xskmap_insert(map.as_fd(), u32::from(q.queue), socket.as_fd()) {
            fail(&control, format!("XSKMAP update: {e}"));
        }
    }
    let export = match AfXdpExport::from_fds(layout, queues, fds) {
        Ok(export) => export,
        Err(e) => fail(&control, e.to_string()),
    };
    let (mut io, infos) = match adopt_thread(export, 32) {
        Ok(adopted) => adopted,
        Err(e) => fail(&control, format!("adopt: {e}")),
    };
    if infos.iter().any(|i| i.zero_copy) {
        fail(&control, "veth bound in zero-copy mode".into());
    }
    unix::send_fds(&control, b"ready", &[]).expect("report ready");

    let counters: Vec<QueueCounters> = (0..PORTS).map(|_| QueueCounters::default()).collect();
    let mut batch = Batch::with_capacity(32);
    let mut forwarded = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut received = false;
        for source in 0..io.queues().len() {
            if io.receive(source, &mut batch, &counters[source]) == 0 {
                continue;
            }
            received = true;
            for mut p in batch.iter_mut() {
                let frame = p.data_mut();
                let (dst, rest) = frame.split_at_mut(6);
                dst.swap_with_slice(&mut rest[..6]);
                forwarded += 1;
                p.set_verdict(Verdict::Transmit);
            }
            io.complete(source, &mut batch, &counters);
        }
        if received {
            continue;
        }
        io.idle(&[control.as_raw_fd()]);
        let mut pfd = libc::pollfd {
            fd: control.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a zero timeout only checks.
        if unsafe { libc::poll(&mut pfd, 1, 0) } == 1 || Instant::now() > deadline {
            break;
        }
    }
    let (stop, _) = recv_message(control.as_fd(), Duration::from_secs(1));
    assert_eq!(stop, b"stop");
    unix::send_fds(&control, format!("forwarded {forwarded}").as_bytes(), &[]).expect("report");
}
