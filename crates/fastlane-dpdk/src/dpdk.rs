//! The process's DPDK: its EAL, its mbuf pool and the ports it started.

use std::ffi::{c_char, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fastlane_core::{netns, Config, PortId};

use crate::eal::{eal_args, file_prefix, runtime_dir, Device};
use crate::error::DpdkError;
use crate::sys::{self, RteMempool, Shim};
use crate::thread::DpdkThread;
use crate::DpdkPortStats;
use fastlane_core::QueueSpec;

/// The EAL arguments of the one `rte_eal_init` this process may make, once it was tried.
static EAL: Mutex<Option<Vec<String>>> = Mutex::new(None);

/// The process's DPDK: EAL, mbuf pool and started ports. Dropping it (after every
/// [`DpdkThread`]) stops and closes the ports and cleans up the EAL.
#[derive(Debug)]
pub struct Dpdk {
    shared: Arc<Shared>,
}

/// What the data-plane threads share with [`Dpdk`]; the last of them to go tears DPDK down.
#[derive(Debug)]
pub(crate) struct Shared {
    pub shim: &'static Shim,
    pub pool: *mut RteMempool,
    /// Indexed by [`PortId`].
    pub ports: Vec<StartedPort>,
    /// Where the ports live: closing an `net_af_xdp` port detaches its XDP program by ifindex.
    netns: Option<String>,
    /// EAL's runtime directory when this instance created it.
    runtime_dir: Option<PathBuf>,
}

// SAFETY: the mempool is thread-safe, the ethdev control calls made through `Shared` (stats,
// stop, close) may come from any thread, and each queue is used by the one thread serving it.
unsafe impl Send for Shared {}
// SAFETY: as above; `Shared` is never mutated after start.
unsafe impl Sync for Shared {}

#[derive(Debug)]
pub(crate) struct StartedPort {
    pub interface: String,
    /// The device's ethdev name (`net_af_xdp0`, `0000:3b:00.0`).
    pub device: String,
    pub ethdev: u16,
    pub queues: u16,
    pub mac: [u8; 6],
}

impl Dpdk {
    /// Initialises the EAL from the config (once per process), creates the mbuf pool, and
    /// configures and starts every port with as many queues as the config lists for it, all
    /// inside the config's network namespace.
    pub fn start(config: &Config) -> Result<Dpdk, DpdkError> {
        let devices = devices(config)?;
        let args = eal_args(config, &devices, std::process::id());
        let mut eal = EAL.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(previous) = &*eal {
            return Err(DpdkError::EalInUse {
                previous: previous.clone(),
                requested: args,
            });
        }
        let shim = sys::shim()?;
        *eal = Some(args.clone());
        let runtime_dir = Some(runtime_dir(&file_prefix(&config.dpdk, std::process::id())))
            .filter(|dir| !dir.exists());
        // EAL pins the thread that initialises it to the main lcore's cores: use a thread of
        // our own, inside the namespace, so that the caller keeps its affinity.
        let netns = config.netns.clone();
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    netns::run_in(netns.as_deref(), || {
                        let started = setup(shim, config, &devices, &args);
                        if started.is_err() {
                            remove_runtime_dir(runtime_dir.as_deref());
                        }
                        started.map(|(pool, ports)| Shared {
                            shim,
                            pool,
                            ports,
                            netns: netns.clone(),
                            runtime_dir: runtime_dir.clone(),
                        })
                    })
                })
                .join()
        })
        .map_err(|_| DpdkError::SetupPanicked)??
        .map(|shared| Dpdk {
            shared: Arc::new(shared),
        })
    }

    /// The MAC address of `port` (an index into the config's `ports`).
    ///
    /// # Panics
    /// When `port` is not one of the config's ports.
    pub fn port_mac(&self, port: PortId) -> [u8; 6] {
        self.shared.ports[port as usize].mac
    }

    /// The packet I/O of one data-plane thread serving `queues`, receiving up to `batch_size`
    /// packets per burst. Its first call on the data-plane thread registers that thread with
    /// DPDK.
    pub fn thread(&self, queues: &[QueueSpec], batch_size: usize) -> Result<DpdkThread, DpdkError> {
        if queues.is_empty() || !(1..=u16::MAX as usize).contains(&batch_size) {
            return Err(DpdkError::EmptyThread);
        }
        for q in queues {
            let port = self
                .shared
                .ports
                .get(q.port as usize)
                .filter(|p| p.interface == q.interface)
                .ok_or_else(|| DpdkError::UnknownPort {
                    port: q.port,
                    interface: q.interface.clone(),
                })?;
            if q.queue >= port.queues {
                return Err(DpdkError::QueueOutOfRange {
                    port: q.port,
                    interface: q.interface.clone(),
                    queue: q.queue,
                    count: port.queues,
                });
            }
        }
        Ok(DpdkThread::new(self.shared.clone(), queues, batch_size))
    }

    /// The device's own counters for `port`.
    pub fn port_stats(&self, port: PortId) -> Result<DpdkPortStats, DpdkError> {
        let started =
            self.shared
                .ports
                .get(port as usize)
                .ok_or_else(|| DpdkError::UnknownPort {
                    port,
                    interface: String::new(),
                })?;
        let mut values = [0u64; 6];
        // SAFETY: the port was started by this instance; the shim writes 6 values.
        let rc = unsafe { (self.shared.shim.port_stats)(started.ethdev, values.as_mut_ptr()) };
        if rc != 0 {
            return Err(self.shared.port_error("rte_eth_stats_get", port, rc));
        }
        let [ipackets, opackets, imissed, ierrors, oerrors, rx_nombuf] = values;
        Ok(DpdkPortStats {
            ipackets,
            opackets,
            imissed,
            ierrors,
            oerrors,
            rx_nombuf,
        })
    }
}

impl Shared {
    fn port_error(&self, function: &'static str, port: PortId, rc: i32) -> DpdkError {
        DpdkError::Port {
            function,
            port,
            device: self.ports[port as usize].device.clone(),
            errno: -rc,
            text: self.shim.error_text(-rc),
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let this: &Shared = self;
        let work = move || {
            teardown(this.shim, this.pool, &this.ports);
            remove_runtime_dir(this.runtime_dir.as_deref());
        };
        if let Err(e) = netns::run_in(this.netns.as_deref(), work) {
            log::error!("DPDK teardown: {e}");
        }
    }
}

/// Stops and closes the ports, frees the pool and releases the EAL's memory.
fn teardown(shim: &Shim, pool: *mut RteMempool, ports: &[StartedPort]) {
    for port in ports {
        // SAFETY: the port was started by this instance and no thread uses it any more.
        let rc = unsafe { (shim.port_stop)(port.ethdev) };
        if rc != 0 {
            log::warn!(
                "rte_eth_dev_stop({}): {}",
                port.device,
                shim.error_text(-rc)
            );
        }
        // SAFETY: as above; the port is not used after this.
        let rc = unsafe { (shim.port_close)(port.ethdev) };
        if rc != 0 {
            log::warn!(
                "rte_eth_dev_close({}): {}",
                port.device,
                shim.error_text(-rc)
            );
        }
    }
    // SAFETY: every mbuf is back in the pool once its ports are closed.
    unsafe { (shim.pool_free)(pool) };
    // SAFETY: nothing uses DPDK any more in this process.
    if unsafe { (shim.eal_cleanup)() } != 0 {
        let (_, text) = shim.last_error();
        log::warn!("rte_eal_cleanup: {text}");
    }
}

/// Removes EAL's runtime directory (config and lock files) when this instance created it.
fn remove_runtime_dir(dir: Option<&Path>) {
    if let Some(dir) = dir {
        if let Err(e) = std::fs::remove_dir_all(dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                log::warn!("removing DPDK's runtime directory {}: {e}", dir.display());
            }
        }
    }
}

/// Each port's device, checked as far as can be without DPDK.
fn devices(config: &Config) -> Result<Vec<Device>, DpdkError> {
    let mut devices = Vec::with_capacity(config.ports.len());
    for (p, port) in config.ports.iter().enumerate() {
        let port_id = p as PortId;
        let spec = config
            .dpdk
            .devices
            .get(&port.interface)
            .ok_or_else(|| DpdkError::NoDevice {
                port: port_id,
                interface: port.interface.clone(),
            })?;
        let device = Device::parse(spec);
        if let Device::Pci { name, .. } = &device {
            if !Path::new("/sys/bus/pci/devices").join(name).exists() {
                return Err(DpdkError::NoPciDevice {
                    port: port_id,
                    interface: port.interface.clone(),
                    device: name.clone(),
                });
            }
        }
        let count = port.queues.len() as u16;
        if let Some(q) = port.queues.iter().find(|q| q.id >= count) {
            return Err(DpdkError::QueueOutOfRange {
                port: port_id,
                interface: port.interface.clone(),
                queue: q.id,
                count,
            });
        }
        devices.push(device);
    }
    Ok(devices)
}

/// Initialises the EAL, creates the pool and starts the ports; on failure undoes what it did.
fn setup(
    shim: &'static Shim,
    config: &Config,
    devices: &[Device],
    args: &[String],
) -> Result<(*mut RteMempool, Vec<StartedPort>), DpdkError> {
    let c_args: Vec<CString> = args
        .iter()
        .map(|a| CString::new(a.as_str()).unwrap_or_default())
        .collect();
    let mut argv: Vec<*mut c_char> = c_args.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    // SAFETY: argv holds argc NUL-terminated strings followed by NULL, all alive for the call;
    // EAL may reorder the pointers but does not write through them.
    let rc = unsafe { (shim.eal_init)(args.len() as i32, argv.as_mut_ptr()) };
    if rc < 0 {
        let (errno, text) = shim.last_error();
        return Err(DpdkError::EalInit {
            args: args.to_vec(),
            errno,
            text,
        });
    }
    let d = &config.dpdk;
    let name = c"fastlane_mbufs";
    // SAFETY: the name is NUL-terminated; the EAL is initialised.
    let pool = unsafe { (shim.pool_create)(name.as_ptr(), d.mbufs, d.mbuf_cache) };
    if pool.is_null() {
        let (errno, text) = shim.last_error();
        teardown(shim, pool, &[]);
        return Err(DpdkError::Pool {
            mbufs: d.mbufs,
            cache: d.mbuf_cache,
            errno,
            text,
        });
    }
    let mut ports: Vec<StartedPort> = Vec::with_capacity(devices.len());
    for (p, (port, device)) in config.ports.iter().zip(devices).enumerate() {
        match start_port(
            shim,
            pool,
            p as PortId,
            &port.interface,
            device,
            port.queues.len() as u16,
            d,
        ) {
            Ok(started) => ports.push(started),
            Err(e) => {
                teardown(shim, pool, &ports);
                return Err(e);
            }
        }
    }
    Ok((pool, ports))
}

fn start_port(
    shim: &Shim,
    pool: *mut RteMempool,
    port: PortId,
    interface: &str,
    device: &Device,
    queues: u16,
    d: &fastlane_core::config::DpdkConfig,
) -> Result<StartedPort, DpdkError> {
    let name = CString::new(device.name()).unwrap_or_default();
    let mut ethdev = 0u16;
    // SAFETY: a NUL-terminated name and a writable u16.
    let rc = unsafe { (shim.port_by_name)(name.as_ptr(), &mut ethdev) };
    if rc != 0 {
        return Err(DpdkError::NoEthdev {
            port,
            interface: interface.to_string(),
            name: device.name().to_string(),
            text: shim.error_text(-rc),
        });
    }
    let port_error = |function: &'static str, rc: i32| DpdkError::Port {
        function,
        port,
        device: device.name().to_string(),
        errno: -rc,
        text: shim.error_text(-rc),
    };
    let mut failed = 0;
    // SAFETY: `ethdev` is a probed port, `pool` a live mempool, `failed` writable.
    let rc = unsafe {
        (shim.port_start)(
            ethdev,
            queues,
            d.rx_ring_size,
            d.tx_ring_size,
            pool,
            &mut failed,
        )
    };
    if rc != 0 {
        // SAFETY: the port is not started; closing releases what configuring it took.
        unsafe { (shim.port_close)(ethdev) };
        let function = PORT_START_STEPS
            .get(failed as usize)
            .copied()
            .unwrap_or("fastlane_dpdk_port_start");
        return Err(port_error(function, rc));
    }
    let mut mac = [0u8; 6];
    // SAFETY: a started port and a 6-byte buffer.
    let rc = unsafe { (shim.port_mac)(ethdev, mac.as_mut_ptr()) };
    if rc != 0 {
        // SAFETY: the port was just started and nothing else uses it.
        unsafe {
            (shim.port_stop)(ethdev);
            (shim.port_close)(ethdev);
        }
        return Err(port_error("rte_eth_macaddr_get", rc));
    }
    Ok(StartedPort {
        interface: interface.to_string(),
        device: device.name().to_string(),
        ethdev,
        queues,
        mac,
    })
}

/// The DPDK call behind each step of `fastlane_dpdk_port_start`.
const PORT_START_STEPS: [&str; 6] = [
    "rte_eth_dev_info_get",
    "rte_eth_dev_configure",
    "rte_eth_dev_adjust_nb_rx_tx_desc",
    "rte_eth_rx_queue_setup",
    "rte_eth_tx_queue_setup",
    "rte_eth_dev_start",
];
