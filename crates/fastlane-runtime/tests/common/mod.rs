// Each test binary uses its own part of these helpers.
#![allow(dead_code)]

//! A veth pair across two fresh network namespaces, removed when dropped (even if a test fails).

use std::process::Command;

pub struct TestBed {
    pub gen_ns: String,
    pub fwd_ns: String,
    pub gen_if: String,
    pub fwd_if: String,
    pub gen_ip: String,
    pub fwd_ip: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestBed {
    /// `tag` keeps concurrently running tests apart (at most 4 characters).
    pub fn up(tag: &str) -> TestBed {
        let id = format!("flm{}{tag}", std::process::id() % 10000);
        let subnet = 100 + (std::process::id() as usize + tag.len() * 7) % 100;
        let bed = TestBed {
            gen_ns: format!("{id}-gen"),
            fwd_ns: format!("{id}-fwd"),
            gen_if: format!("{id}g"),
            fwd_if: format!("{id}f"),
            gen_ip: format!("10.79.{subnet}.1"),
            fwd_ip: format!("10.79.{subnet}.2"),
        };
        ip(&["netns", "add", &bed.gen_ns]);
        ip(&["netns", "add", &bed.fwd_ns]);
        // No IPv6 of the kernel's own (MLD, router solicitations): counters stay exact.
        for ns in [&bed.gen_ns, &bed.fwd_ns] {
            for knob in ["all", "default"] {
                let key = format!("net.ipv6.conf.{knob}.disable_ipv6=1");
                let out = bed.exec(ns, &["sysctl", "-qw", &key]);
                assert!(out.status.success(), "sysctl {key} in {ns}");
            }
        }
        ip(&[
            "link",
            "add",
            &bed.gen_if,
            "type",
            "veth",
            "peer",
            "name",
            &bed.fwd_if,
        ]);
        ip(&["link", "set", &bed.gen_if, "netns", &bed.gen_ns]);
        ip(&["link", "set", &bed.fwd_if, "netns", &bed.fwd_ns]);
        for (ns, dev, addr) in [
            (&bed.gen_ns, &bed.gen_if, &bed.gen_ip),
            (&bed.fwd_ns, &bed.fwd_if, &bed.fwd_ip),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
            // Like a wire: frames carry finished checksums. (Over veth the kernel otherwise
            // leaves TCP/UDP checksums to be completed later, which a frame that leaves the
            // kernel through AF_XDP or DPDK never gets.)
            let out = bed.exec(ns, &["ethtool", "-K", dev, "tx", "off"]);
            assert!(out.status.success(), "ethtool -K {dev} tx off");
        }
        bed
    }

    /// Runs a command inside a namespace and returns whether it succeeded.
    pub fn exec(&self, ns: &str, command: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(command)
            .output()
            .expect("run ip netns exec")
    }

    /// The output of `ip -d link show` for the forwarder's interface.
    pub fn fwd_link(&self) -> String {
        let out = self.exec(
            &self.fwd_ns,
            &["ip", "-d", "link", "show", "dev", &self.fwd_if],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        for ns in [&self.gen_ns, &self.fwd_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

pub mod suite;
