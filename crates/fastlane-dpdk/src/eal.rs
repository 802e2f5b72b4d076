//! The EAL command line a config asks for, and how each port's device is named to DPDK.

use std::path::PathBuf;

use fastlane_core::config::DpdkConfig;
use fastlane_core::Config;

/// A port's DPDK device, as the config names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Device {
    /// `-a ADDRESS[,ARGS]`; `name` is the address with its domain.
    Pci { name: String, spec: String },
    /// `--vdev NAME[,ARGS]`.
    Vdev { name: String, spec: String },
}

impl Device {
    pub fn parse(spec: &str) -> Device {
        let id = spec.split(',').next().unwrap_or_default();
        match pci_address(id) {
            Some(name) => Device::Pci {
                name,
                spec: spec.to_string(),
            },
            None => Device::Vdev {
                name: id.to_string(),
                spec: spec.to_string(),
            },
        }
    }

    /// The ethdev name DPDK gives the device's port.
    pub fn name(&self) -> &str {
        match self {
            Device::Pci { name, .. } | Device::Vdev { name, .. } => name,
        }
    }
}

/// `0000:3b:00.0` or `3b:00.0` → `0000:3b:00.0`.
fn pci_address(id: &str) -> Option<String> {
    let full = if id.matches(':').count() == 1 {
        format!("0000:{id}")
    } else {
        id.to_string()
    };
    let well_formed = full.len() == 12
        && full.char_indices().all(|(i, c)| match i {
            4 | 7 => c == ':',
            10 => c == '.',
            _ => c.is_ascii_hexdigit(),
        });
    well_formed.then(|| full.to_ascii_lowercase())
}

/// The EAL arguments (program name first) for `config`, whose ports' devices are `devices`.
pub(crate) fn eal_args(config: &Config, devices: &[Device], pid: u32) -> Vec<String> {
    let d: &DpdkConfig = &config.dpdk;
    let mut cores: Vec<u16> = config
        .ports
        .iter()
        .flat_map(|p| p.queues.iter().map(|q| q.core))
        .collect();
    cores.sort_unstable();
    cores.dedup();
    let cores: Vec<String> = cores.iter().map(u16::to_string).collect();
    // One lcore, allowed on every data-plane core: EAL starts no worker threads of its own, and
    // the data-plane threads register themselves (rte_thread_register).
    let mut args = vec![
        "fastlane".to_string(),
        format!("--lcores=0@({})", cores.join(",")),
        "-m".to_string(),
        d.memory_mb.to_string(),
    ];
    if !d.huge_pages {
        args.push("--no-huge".into());
    } else if let Some(dir) = &d.huge_dir {
        args.push(format!("--huge-dir={dir}"));
    }
    match (d.in_memory, d.huge_pages) {
        (true, true) => args.push("--in-memory".into()),
        // --no-huge implies legacy memory, which --in-memory refuses; no shared config files
        // is what remains of it.
        (true, false) => args.push("--no-shconf".into()),
        // Otherwise EAL leaves its hugepage files behind.
        (false, true) => args.push("--huge-unlink".into()),
        (false, false) => {}
    }
    args.push(format!("--file-prefix={}", file_prefix(d, pid)));
    for device in devices {
        match device {
            Device::Pci { spec, .. } => args.extend(["-a".to_string(), spec.clone()]),
            Device::Vdev { spec, .. } => args.push(format!("--vdev={spec}")),
        }
    }
    if !devices.iter().any(|d| matches!(d, Device::Pci { .. })) {
        args.push("--no-pci".into());
    }
    args.extend(d.eal_args.iter().cloned());
    args
}

pub(crate) fn file_prefix(d: &DpdkConfig, pid: u32) -> String {
    d.file_prefix
        .clone()
        .unwrap_or_else(|| format!("fastlane-{pid}"))
}

/// Where EAL keeps its runtime files for `prefix` (it creates the directory even with
/// `--in-memory`, and leaves it behind).
pub(crate) fn runtime_dir(prefix: &str) -> PathBuf {
    // SAFETY: getuid cannot fail.
    let base = if unsafe { libc::getuid() } == 0 {
        PathBuf::from("/var/run")
    } else {
        std::env::var_os("XDG_RUNTIME_DIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from)
    };
    base.join("dpdk").join(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dpdk: &str) -> Config {
        let text = format!(
            r#"{{ "backend": "dpdk",
                 "ports": [{{ "interface": "a", "queues": [{{ "id": 0, "core": 1 }}, {{ "id": 1, "core": 0 }}] }},
                           {{ "interface": "b", "queues": [{{ "id": 0, "core": 1 }}] }}],
                 "dpdk": {dpdk}, "pipeline": ["macswap"] }}"#
        );
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn pci_addresses_and_vdevs_are_told_apart() {
        assert_eq!(
            Device::parse("3B:00.1,rxq_cqe_comp_en=0"),
            Device::Pci {
                name: "0000:3b:00.1".into(),
                spec: "3B:00.1,rxq_cqe_comp_en=0".into()
            }
        );
        let vdev = Device::parse("net_af_xdp0,iface=eth0");
        assert_eq!(vdev.name(), "net_af_xdp0");
        assert!(matches!(vdev, Device::Vdev { .. }));
    }

    #[test]
    fn the_command_line_follows_the_config() {
        let c = config(r#"{ "huge_pages": false, "eal_args": ["--log-level=8"] }"#);
        let devices = [
            Device::parse("net_af_packet0,iface=a"),
            Device::parse("net_af_xdp1,iface=b"),
        ];
        assert_eq!(
            eal_args(&c, &devices, 42),
            [
                "fastlane",
                "--lcores=0@(0,1)",
                "-m",
                "512",
                "--no-huge",
                "--no-shconf",
                "--file-prefix=fastlane-42",
                "--vdev=net_af_packet0,iface=a",
                "--vdev=net_af_xdp1,iface=b",
                "--no-pci",
                "--log-level=8",
            ]
        );
        let c = config(
            r#"{ "huge_dir": "/mnt/h", "in_memory": false, "file_prefix": "x", "memory_mb": 256 }"#,
        );
        let devices = [Device::parse("0000:3b:00.0"), Device::parse("net_tap0")];
        assert_eq!(
            eal_args(&c, &devices, 42),
            [
                "fastlane",
                "--lcores=0@(0,1)",
                "-m",
                "256",
                "--huge-dir=/mnt/h",
                "--huge-unlink",
                "--file-prefix=x",
                "-a",
                "0000:3b:00.0",
                "--vdev=net_tap0",
            ]
        );
    }
}
