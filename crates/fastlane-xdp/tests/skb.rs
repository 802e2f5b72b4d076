//! The socket filter and the tc ingress program in the kernel (these tests need root): both
//! classify exactly like `FilterTables::classify`, and the tc program attaches with TCX and
//! detaches on drop.

#[allow(dead_code)] // Helpers the XDP tests use.
mod common;
mod corpus;

use common::Testbed;
use corpus::{
    hex, ports_filter, prefixes_filter, protocols_filter, EDGE_PREFIXES, EVERYTHING_PREFIXES,
};
use fastlane_core::wire::testing::ipv4_udp;
use fastlane_core::Class;
use fastlane_xdp::{tcx_ingress_programs, SocketFilter, TcSuppressor, TC_ACT_SHOT, TC_ACT_UNSPEC};

/// Whether the kernel's test harness takes `frame` as tc input: it refuses frames no longer than
/// an Ethernet header, and IPv4 and IPv6 frames that cannot hold their IP header.
fn tc_runnable(frame: &[u8]) -> bool {
    if frame.len() <= corpus::MIN_RUNNABLE {
        return false;
    }
    let l3 = frame.len() - corpus::MIN_RUNNABLE;
    match u16::from_be_bytes([frame[12], frame[13]]) {
        0x0800 => l3 >= 20,
        0x86dd => l3 >= 40,
        _ => true,
    }
}

#[test]
fn the_socket_filter_and_the_tc_program_classify_exactly_like_filter_tables() {
    let bed = Testbed::new("flxskb");
    let frames = corpus::frames(0x5eed_f1a5_7a11_0002);
    let first = ports_filter();
    let mut socket = SocketFilter::load(&first).expect("load the socket filter");
    let mut tc = fastlane_core::netns::run_in(Some(&bed.name), || {
        TcSuppressor::attach(&bed.veth(0), &first)
    })
    .unwrap()
    .expect("attach the tc program");
    for (name, tables) in [
        ("ports", first),
        ("protocols", protocols_filter()),
        ("prefixes", prefixes_filter(&EDGE_PREFIXES)),
        ("everything", prefixes_filter(&EVERYTHING_PREFIXES)),
    ] {
        socket.set_filter(&tables).unwrap();
        tc.set_filter(&tables).unwrap();
        let (mut fast, mut short) = (0, 0);
        for frame in &frames {
            let class = tables.classify(frame);
            let kept = socket
                .test_run(frame)
                .expect("test run of the socket filter");
            let expected = match class {
                Class::Fast => frame.len() as u32,
                Class::Slow(_) => 0,
            };
            assert_eq!(
                kept,
                expected,
                "{name}: socket filter, {class:?}: {}",
                hex(frame)
            );
            if !tc_runnable(frame) {
                short += 1;
                continue;
            }
            let action = tc
                .test_run(frame)
                .unwrap_or_else(|e| panic!("tc test run of {}: {e}", hex(frame)));
            let expected = match class {
                Class::Fast => TC_ACT_SHOT,
                Class::Slow(_) => TC_ACT_UNSPEC,
            };
            assert_eq!(action, expected, "{name}: tc, {class:?}: {}", hex(frame));
            fast += (class == Class::Fast) as usize;
        }
        assert!(fast > 100, "{name}: only {fast} fast-path frames");
        assert!(short > 0, "{name}: every frame was runnable");
        eprintln!("{name}: {} frames, {fast} fast", frames.len());
    }
}

#[test]
fn the_tc_program_attaches_with_tcx_and_drop_detaches_it() {
    let bed = Testbed::new("flxtcx");
    let veth = bed.veth(0);
    let count = || {
        fastlane_core::netns::run_in(Some(&bed.name), || tcx_ingress_programs(&veth))
            .unwrap()
            .expect("query TCX")
    };
    assert_eq!(count(), 0);
    let attach = || {
        fastlane_core::netns::run_in(Some(&bed.name), || {
            TcSuppressor::attach(&veth, &ports_filter())
        })
        .unwrap()
    };
    let first = attach().expect("attach");
    assert_eq!((first.interface(), count()), (veth.as_str(), 1));
    // TCX takes several programs on one hook.
    let second = attach().expect("attach a second");
    assert_eq!(count(), 2);
    assert_eq!(second.test_run(&ipv4_udp(2152, 8)).unwrap(), TC_ACT_SHOT);
    assert_eq!(second.test_run(&ipv4_udp(2153, 8)).unwrap(), TC_ACT_UNSPEC);
    second.detach().expect("detach");
    assert_eq!(count(), 1);
    drop(first);
    assert_eq!(count(), 0, "still attached after drop");

    let missing = fastlane_core::netns::run_in(Some(&bed.name), || {
        TcSuppressor::attach("flxtcx9", &ports_filter())
    })
    .unwrap()
    .unwrap_err();
    assert!(missing.to_string().starts_with("flxtcx9: "), "{missing}");
}

/// Set in the child process of the next test: the namespace to attach in before dying.
const DIE_ATTACHED_IN: &str = "FLX_TC_DIE_ATTACHED_IN";

#[test]
fn the_kernel_detaches_the_tc_program_of_a_process_that_dies() {
    if let Ok(name) = std::env::var(DIE_ATTACHED_IN) {
        // The child: attach in the parent's namespace and die without running any destructor.
        let veth = format!("{name}0");
        let count = fastlane_core::netns::run_in(Some(&name), || {
            let suppressor = TcSuppressor::attach(&veth, &ports_filter()).unwrap();
            let count = tcx_ingress_programs(&veth).unwrap();
            std::mem::forget(suppressor);
            count
        })
        .unwrap();
        println!("attached: {count}");
        // SAFETY: kill(2) of this very process; SIGKILL runs no handler and dumps no core.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        unreachable!("survived SIGKILL");
    }
    let bed = Testbed::new("flxtcd");
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_kernel_detaches_the_tc_program_of_a_process_that_dies",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIE_ATTACHED_IN, &bed.name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    assert!(
        stdout.contains("attached: 1"),
        "the child did not attach: {stdout}{}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&child.status),
        Some(libc::SIGKILL)
    );
    let count =
        fastlane_core::netns::run_in(Some(&bed.name), || tcx_ingress_programs(&bed.veth(0)))
            .unwrap()
            .unwrap();
    assert_eq!(count, 0, "left attached by a dead process");
}
