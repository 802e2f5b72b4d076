//! The XDP program in the kernel (these tests need root): it classifies exactly like
//! `FilterTables::classify`, attaches and detaches cleanly, and follows filter updates.

mod common;
mod corpus;

use common::Testbed;
use corpus::{
    hex, ports_filter, prefixes_filter, protocols_filter, EDGE_PREFIXES, EVERYTHING_PREFIXES,
};
use fastlane_core::config::{
    prefix_mask_v4, prefix_mask_v6, AttachMode, DstPrefix, FilterConfig, PortMatch,
};
use fastlane_core::wire::testing::{ipv4_udp, ipv6_udp};
use fastlane_core::{Class, FilterTables, SlowReason};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use fastlane_xdp::{
    AttachedMode, XdpCounters, XdpError, XdpPort, XskMapFd, XDP_PASS, XDP_REDIRECT,
};

/// Runs every frame through the program and compares the action, the frame and the counter that
/// moved with the classifier's answer. Returns how many frames took the fast path, or the first
/// frame on which the two disagree.
fn compare(port: &XdpPort, tables: &FilterTables, frames: &[Vec<u8>]) -> Result<usize, String> {
    let mut fast = 0;
    let mut before = port.counters().expect("read counters");
    for frame in frames {
        let run = port.test_run(frame).expect("BPF_PROG_TEST_RUN");
        let after = port.counters().expect("read counters");
        let class = tables.classify(frame);
        let mut expected = before;
        match class {
            // No socket is registered: the fast path falls back to the kernel.
            Class::Fast => {
                expected.no_socket += 1;
                fast += 1;
            }
            Class::Slow(reason) => expected.passed[reason as usize] += 1,
        }
        if after != expected {
            return Err(format!(
                "classify says {class:?} for {} bytes: {}\n  program: {after:?}\n expected: {expected:?}",
                frame.len(),
                hex(frame)
            ));
        }
        assert_eq!(run.action, XDP_PASS, "action for {}", hex(frame));
        assert_eq!(&run.frame, frame, "the program must not change the frame");
        before = after;
    }
    Ok(fast)
}

fn check_equivalence(port: &XdpPort, tables: &FilterTables, frames: &[Vec<u8>]) -> usize {
    compare(port, tables, frames).unwrap_or_else(|disagreement| panic!("{disagreement}"))
}

#[test]
fn the_program_classifies_exactly_like_filter_tables() {
    let bed = Testbed::new("flxeq");
    let first = ports_filter();
    let mut port = bed
        .attach(&bed.veth(0), AttachMode::Native, &first)
        .expect("attach");
    let frames = corpus::frames(0x5eed_f1a5_7a11_0001);
    let mut seen = [false; 6];
    for (name, tables) in [
        ("ports", first),
        ("protocols", protocols_filter()),
        ("prefixes", prefixes_filter(&EDGE_PREFIXES)),
        ("everything", prefixes_filter(&EVERYTHING_PREFIXES)),
    ] {
        port.set_filter(&tables).expect("set filter");
        let fast = check_equivalence(&port, &tables, &frames);
        // The corpus must exercise both sides and every reason, or it proves little.
        for frame in &frames {
            if let Class::Slow(reason) = tables.classify(frame) {
                seen[reason as usize] = true;
            }
        }
        assert!(fast > 100, "{name}: only {fast} fast-path frames");
        eprintln!("{name}: {} frames, {fast} fast", frames.len());
    }
    for reason in SlowReason::ALL {
        assert!(seen[reason as usize], "no {reason:?} frame");
    }
    port.detach().expect("detach");
}

#[test]
fn a_prefix_one_bit_off_in_the_kernel_is_caught_by_the_corpus() {
    let bed = Testbed::new("flxoff");
    let right = prefixes_filter(&EDGE_PREFIXES);
    let mut port = bed
        .attach(&bed.veth(0), AttachMode::Native, &right)
        .expect("attach");
    let frames = corpus::frames(0x5eed_f1a5_7a11_0003);
    check_equivalence(&port, &right, &frames);
    // The kernel's copy of each prefix in turn gets a mask one bit shorter or longer.
    let (mut v4, mut v6) = (0, 0);
    let mut caught = 0;
    for prefix in EDGE_PREFIXES {
        let parsed: DstPrefix = prefix.parse().unwrap();
        let (len, width) = match parsed {
            DstPrefix::V4 { len, .. } => (len, 32),
            DstPrefix::V6 { len, .. } => (len, 128),
        };
        for wrong_len in [len.checked_sub(1), Some(len + 1).filter(|&l| l <= width)]
            .into_iter()
            .flatten()
        {
            let mut wrong = right.clone();
            match parsed {
                DstPrefix::V4 { .. } => wrong.prefixes_v4[v4].mask = prefix_mask_v4(wrong_len),
                DstPrefix::V6 { .. } => {
                    let mask = prefix_mask_v6(wrong_len);
                    wrong.prefixes_v6[v6].mask =
                        [96, 64, 32, 0].map(|shift| (mask >> shift) as u32);
                }
            }
            port.set_filter(&wrong).expect("set filter");
            assert!(
                compare(&port, &right, &frames).is_err(),
                "the kernel matching {prefix} as /{wrong_len} went unnoticed"
            );
            caught += 1;
        }
        match parsed {
            DstPrefix::V4 { .. } => v4 += 1,
            DstPrefix::V6 { .. } => v6 += 1,
        }
    }
    assert_eq!(
        caught,
        2 * EDGE_PREFIXES.len() - 2,
        "/32 and /128 have no longer mask"
    );
    port.detach().expect("detach");
}

#[test]
fn each_port_classifies_by_its_own_filter() {
    let bed = Testbed::new("flxpp");
    let n3 = FilterTables::new(&FilterConfig {
        udp_ports: vec![PortMatch::One(2152)],
        ..FilterConfig::default()
    });
    let n6 = prefixes_filter(&["10.45.0.0/16", "2001:db8:1::/48"]);
    let n3_port = bed
        .attach(&bed.veth(0), AttachMode::Native, &n3)
        .expect("attach N3");
    let n6_port = bed
        .attach(&bed.veth(1), AttachMode::Native, &n6)
        .expect("attach N6");
    let frames = corpus::frames(0x5eed_f1a5_7a11_0004);
    let differ = frames
        .iter()
        .filter(|f| n3.classify(f) != n6.classify(f))
        .count();
    assert!(differ > 100, "only {differ} frames tell the filters apart");
    check_equivalence(&n3_port, &n3, &frames);
    check_equivalence(&n6_port, &n6, &frames);
}

fn has_xdp(details: &str) -> bool {
    details.contains("prog/xdp")
}

#[test]
fn native_attach_shows_on_the_link_and_detach_and_drop_remove_it() {
    let bed = Testbed::new("flxat");
    let veth = bed.veth(0);
    let tables = ports_filter();
    assert!(!has_xdp(&bed.link_details(&veth)));

    let port = bed.attach(&veth, AttachMode::Native, &tables).unwrap();
    assert_eq!(port.mode(), AttachedMode::Native);
    assert_eq!(port.interface(), veth);
    let details = bed.link_details(&veth);
    assert!(has_xdp(&details), "{details}");
    assert!(details.contains(&format!("{}: {veth}", port.ifindex())));
    port.detach().expect("detach");
    let details = bed.link_details(&veth);
    assert!(!has_xdp(&details), "still attached after detach: {details}");

    let port = bed.attach(&veth, AttachMode::Auto, &tables).unwrap();
    assert_eq!(
        port.mode(),
        AttachedMode::Native,
        "veth supports native XDP"
    );
    assert!(has_xdp(&bed.link_details(&veth)));
    drop(port);
    let details = bed.link_details(&veth);
    assert!(!has_xdp(&details), "still attached after drop: {details}");
}

/// Set in the child process of the next test: the namespace to attach in before dying.
const DIE_ATTACHED_IN: &str = "FLX_DIE_ATTACHED_IN";

#[test]
fn the_kernel_detaches_the_program_of_a_process_that_dies() {
    if let Ok(name) = std::env::var(DIE_ATTACHED_IN) {
        // The child: attach in the parent's namespace and die without running any destructor.
        let veth = format!("{name}0");
        let port = fastlane_core::netns::run_in(Some(&name), || {
            XdpPort::attach(&veth, AttachMode::Native, &ports_filter())
        })
        .unwrap()
        .unwrap();
        assert!(has_xdp(&common::ip(&[
            "-n", &name, "-d", "link", "show", &veth
        ])));
        println!("attached as {}", port.ifindex());
        // SAFETY: kill(2) of this very process; SIGKILL runs no handler and dumps no core.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        unreachable!("survived SIGKILL");
    }
    let bed = Testbed::new("flxdie");
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_kernel_detaches_the_program_of_a_process_that_dies",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIE_ATTACHED_IN, &bed.name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        stdout.contains("attached as"),
        "the child did not attach: {stdout}{}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&child.status),
        Some(libc::SIGKILL)
    );
    let details = bed.link_details(&bed.veth(0));
    assert!(
        !has_xdp(&details),
        "left attached by a dead process: {details}"
    );
}

#[test]
fn generic_attach_and_auto_fallback_where_the_driver_refuses() {
    let bed = Testbed::new("flxgen");
    let tables = ports_filter();
    let port = bed
        .attach(&bed.veth(1), AttachMode::Generic, &tables)
        .unwrap();
    assert_eq!(port.mode(), AttachedMode::Generic);
    let details = bed.link_details(&bed.veth(1));
    assert!(details.contains("xdpgeneric"), "{details}");
    drop(port);
    assert!(!has_xdp(&bed.link_details(&bed.veth(1))));

    // Loopback has no native XDP.
    let native = bed.attach("lo", AttachMode::Native, &tables).unwrap_err();
    assert!(native.to_string().contains("lo: attach"), "{native}");
    assert!(native.errno().is_some(), "{native}");
    let port = bed.attach("lo", AttachMode::Auto, &tables).unwrap();
    assert_eq!(port.mode(), AttachedMode::Generic);
    assert!(has_xdp(&bed.link_details("lo")));
    port.detach().unwrap();
    assert!(!has_xdp(&bed.link_details("lo")));
}

#[test]
fn a_new_filter_takes_effect_on_the_next_frame() {
    let bed = Testbed::new("flxup");
    let mut port = bed
        .attach(&bed.veth(0), AttachMode::Native, &ports_filter())
        .unwrap();
    let frame = ipv6_udp(7000, 32);
    let count = |port: &XdpPort| -> XdpCounters {
        let run = port.test_run(&frame).unwrap();
        assert_eq!(run.action, XDP_PASS);
        port.counters().unwrap()
    };
    assert_eq!(count(&port).passed_for(SlowReason::NoMatch), 1);
    port.set_filter(&FilterTables::new(&FilterConfig {
        udp_ports: vec![PortMatch::One(7000)],
        ..FilterConfig::default()
    }))
    .unwrap();
    let after = count(&port);
    assert_eq!(
        (after.no_socket, after.passed_for(SlowReason::NoMatch)),
        (1, 1)
    );
    port.set_filter(&ports_filter()).unwrap();
    assert_eq!(count(&port).passed_for(SlowReason::NoMatch), 2);
}

#[test]
fn errors_name_the_interface_and_the_operation() {
    let bed = Testbed::new("flxerr");
    let tables = ports_filter();
    let missing = bed
        .attach("flxerr9", AttachMode::Auto, &tables)
        .unwrap_err();
    assert!(
        matches!(missing, XdpError::NoSuchInterface { .. }),
        "{missing}"
    );
    assert!(missing.to_string().starts_with("flxerr9: "), "{missing}");

    // One program per interface and mode: a second attach is refused, the first stays.
    let first = bed
        .attach(&bed.veth(0), AttachMode::Native, &tables)
        .unwrap();
    let second = bed
        .attach(&bed.veth(0), AttachMode::Native, &tables)
        .unwrap_err();
    let text = second.to_string();
    assert!(
        text.starts_with(&format!(
            "{}: attach the XDP program in native mode",
            bed.veth(0)
        )),
        "{text}"
    );
    assert_eq!(second.errno(), Some(libc::EBUSY), "{text}");
    assert!(has_xdp(&bed.link_details(&bed.veth(0))));

    // Only AF_XDP sockets go into the xsks map.
    let mut first = first;
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let refused = first
        .register_socket(0, std::os::fd::AsRawFd::as_raw_fd(&udp))
        .unwrap_err();
    assert!(refused.to_string().contains("xsks map"), "{refused}");
    assert!(refused.errno().is_some(), "{refused}");
}

#[test]
fn fast_frames_of_a_queue_with_a_socket_are_redirected() {
    let bed = Testbed::new("flxsk");
    let mut port = bed
        .attach(&bed.veth(0), AttachMode::Native, &ports_filter())
        .unwrap();
    // The map takes any AF_XDP socket; BPF_PROG_TEST_RUN reports the action without delivering
    // the frame, so the socket needs no UMEM or rings here.
    // SAFETY: plain socket(2); the result is checked and owned right away.
    let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    assert!(
        raw >= 0,
        "socket(AF_XDP): {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let xsk = unsafe { OwnedFd::from_raw_fd(raw) };
    // Test runs arrive on queue 0.
    port.register_socket(0, xsk.as_raw_fd()).unwrap();

    assert_eq!(
        port.test_run(&ipv4_udp(2152, 8)).unwrap().action,
        XDP_REDIRECT
    );
    assert_eq!(
        port.test_run(&ipv6_udp(5000, 8)).unwrap().action,
        XDP_REDIRECT
    );
    assert_eq!(port.test_run(&ipv4_udp(2153, 8)).unwrap().action, XDP_PASS);
    let counters = port.counters().unwrap();
    assert_eq!(
        (
            counters.redirected,
            counters.no_socket,
            counters.passed_for(SlowReason::NoMatch)
        ),
        (2, 0, 1)
    );
}

#[test]
fn an_exported_xsk_map_adopted_elsewhere_redirects_to_the_socket_put_in_it() {
    let bed = Testbed::new("flxexp");
    let port = bed
        .attach(&bed.veth(0), AttachMode::Native, &ports_filter())
        .unwrap();
    // Not a map: refused when adopted, naming the call.
    let memfd = fastlane_sys::memfd::memfd_create("not-a-map").unwrap();
    let refused = XskMapFd::adopt(memfd).unwrap_err();
    assert!(
        refused.to_string().contains("BPF_OBJ_GET_INFO_BY_FD"),
        "{refused}"
    );

    let map = XskMapFd::adopt(port.export_xsk_map().unwrap()).expect("adopt the exported map");
    assert_eq!(port.test_run(&ipv4_udp(2152, 8)).unwrap().action, XDP_PASS);
    let xsk = fastlane_sys::xsk::socket().expect("socket(AF_XDP)");
    // Through the adopted descriptor, not the port's own map handle.
    map.register_socket(0, std::os::fd::AsFd::as_fd(&xsk))
        .unwrap();
    assert_eq!(
        port.test_run(&ipv4_udp(2152, 8)).unwrap().action,
        XDP_REDIRECT
    );
}

#[test]
fn ports_move_between_threads() {
    fn send<T: Send>() {}
    send::<XdpPort>();
    // Frames of both families at a listed port take the fast path in the kernel too.
    let bed = Testbed::new("flxsnd");
    let port = bed
        .attach(&bed.veth(0), AttachMode::Native, &ports_filter())
        .unwrap();
    let port = std::thread::spawn(move || {
        port.test_run(&ipv4_udp(2152, 8)).unwrap();
        port.test_run(&ipv6_udp(5002, 8)).unwrap();
        port
    })
    .join()
    .unwrap();
    assert_eq!(port.counters().unwrap().no_socket, 2);
}
