//! A network namespace with a veth pair in it, removed on drop (even when the test fails).

use std::process::Command;

use fastlane_core::config::AttachMode;
use fastlane_core::FilterTables;
use fastlane_xdp::{XdpError, XdpPort};

pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Namespace `name` holding veth `name0` <-> `name1`, both down.
pub struct Testbed {
    pub name: String,
}

impl Testbed {
    pub fn new(name: &str) -> Testbed {
        assert!(name.starts_with("flx") && name.len() <= 14);
        // A namespace left by an earlier, killed run.
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        ip(&["netns", "add", name]);
        let bed = Testbed {
            name: name.to_string(),
        };
        let (a, b) = (bed.veth(0), bed.veth(1));
        ip(&[
            "-n", name, "link", "add", &a, "type", "veth", "peer", "name", &b,
        ]);
        bed
    }

    pub fn veth(&self, end: u8) -> String {
        format!("{}{end}", self.name)
    }

    /// `interface`'s lines of `ip -d link show`.
    pub fn link_details(&self, interface: &str) -> String {
        ip(&["-n", &self.name, "-d", "link", "show", "dev", interface])
    }

    pub fn attach(
        &self,
        interface: &str,
        mode: AttachMode,
        filter: &FilterTables,
    ) -> Result<XdpPort, XdpError> {
        fastlane_core::netns::run_in(Some(&self.name), || {
            XdpPort::attach(interface, mode, filter)
        })
        .expect("enter the test namespace")
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth pair and whatever XDP program is on it.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
