//! Turning a config into each backend's resources and one [`QueueIo`] per core. Everything here
//! runs inside the config's network namespace; on error what was built so far is dropped, which
//! closes sockets, detaches programs and removes TAP devices.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fastlane_afpacket::{AfPacketPort, PacketStatsReader, SplitMechanism};
use fastlane_afxdp::XskStatsReader;
use fastlane_core::config::{
    BackendKind, Config, DeploymentMode, FilterConfig, PuntPath, TapConfig,
};
use fastlane_core::{FilterTables, PortId, QueueCounters, QueueSpec, ThreadIo};
use fastlane_dpdk::Dpdk;
use fastlane_handoff::protocol::XdpAttach;
use fastlane_handoff::{HandedBackend, HandedThread, PortRequest, QueueRef, Request};
use fastlane_tap::{KernelInterface, MovedAddresses, Tap, TapQueue, TapSpec};
use fastlane_xdp::{TcSuppressor, XdpCountersFd, XdpPort};

use crate::stats::{self, Named, XdpPortStats};
use crate::worker::{QueueIo, SlowPath};
use crate::RuntimeError;

/// What a backend keeps open while the data plane runs; dropped after the threads have ended.
pub(crate) enum Ports {
    AfXdp(Vec<Mutex<XdpPort>>),
    Dpdk(Dpdk),
    AfPacket(Vec<AfPacketPort>),
    /// The device plugin made the ports (`deployment.mode` `device_plugin`).
    Handed(HandedPorts),
}

/// What a data plane whose descriptors the device plugin made keeps: the session (closing it
/// tells the plugin to detach its programs), the programs' links (held so that they stay
/// attached while this process lives, whatever becomes of the plugin) and each af_xdp port's
/// split counters.
pub(crate) struct HandedPorts {
    _session: OwnedFd,
    _links: Vec<OwnedFd>,
    xdp: Vec<Option<(XdpAttach, Option<XdpCountersFd>)>>,
}

/// The kernel's side of the ports: their TAP twins (DPDK's slow path, or the punt path a port
/// of another backend asked for), by port; the addresses moved off kernel interfaces to them;
/// and the tc programs that keep a DPDK `net_af_packet` interface's frames from the kernel,
/// whose view of the port is the TAP. Dropped after the threads have ended: the TAP devices go,
/// then the addresses return to their interfaces and the interfaces to the kernel.
#[derive(Default)]
pub(crate) struct KernelSide {
    taps: Vec<Option<Tap>>,
    /// The names of the TAP devices the device plugin made, by port: they live as long as the
    /// queues the threads hold.
    handed_taps: Vec<Option<String>>,
    /// Declared after `taps`, so dropped after them.
    moved: Vec<MovedAddresses>,
    hidden: Vec<TcSuppressor>,
}

impl KernelSide {
    /// The name of port `p`'s TAP device, if it has one.
    pub fn tap_name(&self, p: usize) -> Option<String> {
        match self.taps.get(p) {
            Some(Some(tap)) => Some(tap.name().to_string()),
            _ => self.handed_taps.get(p).cloned().flatten(),
        }
    }

    /// Makes the kernel leave DPDK device `device` (a vdev over kernel interface `interface`)
    /// to DPDK for the run, so that it answers for port `p` only through the TAP `spec`
    /// describes: the interface's addresses that the TAP is given move to the TAP (an address
    /// left on the interface keeps the kernel answering there, and ping to it fails); and, as a
    /// `net_af_packet` vdev only taps the interface, a tc program keeps its frames from the
    /// kernel's stack (otherwise the kernel, which takes a packet for any of its addresses on
    /// any interface, answers every one twice).
    fn hide_from_kernel(
        &mut self,
        p: usize,
        device: &str,
        interface: &str,
        spec: &TapSpec,
    ) -> Result<(), RuntimeError> {
        let moved = MovedAddresses::take(interface, &spec.addresses).map_err(|source| {
            RuntimeError::Tap {
                port: p as PortId,
                source,
            }
        })?;
        if !moved.addresses().is_empty() {
            log::info!(
                "{interface}: addresses {:?} move to TAP {} while DPDK drives the interface",
                moved.addresses(),
                spec.name
            );
        }
        self.moved.push(moved);
        if device.starts_with("net_af_packet") {
            let everything = FilterConfig {
                ether_types: (0..=u16::MAX).collect(),
                ..FilterConfig::default()
            };
            let hidden = TcSuppressor::attach(interface, &FilterTables::new(&everything)).map_err(
                |source| RuntimeError::KernelView {
                    port: p as PortId,
                    interface: interface.to_string(),
                    source,
                },
            )?;
            self.hidden.push(hidden);
        }
        Ok(())
    }

    /// Creates port `p`'s TAP twin from `spec` and returns its queues, one per queue the port
    /// has, to be handed to the threads that serve them.
    fn create(&mut self, p: usize, spec: &TapSpec) -> Result<Vec<Option<TapQueue>>, RuntimeError> {
        let mut tap = Tap::create(spec).map_err(|source| RuntimeError::Tap {
            port: p as PortId,
            source,
        })?;
        let queues = (0..tap.queue_count())
            .map(|i| Some(tap.take_queue(i)))
            .collect();
        if self.taps.len() <= p {
            self.taps.resize_with(p + 1, || None);
        }
        self.taps[p] = Some(tap);
        Ok(queues)
    }
}

/// The TAP queues of the ports, by port and then by the port's queue, until threads take them.
type TapQueues = Vec<Vec<Option<TapQueue>>>;

/// The TAP queue of each queue a thread serves, taken out of `tap_queues` (a port without a
/// TAP gives `None`).
fn taps_of_thread(
    tap_queues: &mut TapQueues,
    configured: &[ConfiguredQueue],
) -> Vec<Option<TapQueue>> {
    configured
        .iter()
        .map(|q| {
            tap_queues
                .get_mut(q.port as usize)
                .and_then(|queues| queues.get_mut(q.nth))
                .and_then(Option::take)
        })
        .collect()
}

/// Creates the punt TAP of every port that asks for one (`punt: "tap"`) on a backend whose
/// split is in the kernel: the port's MAC and MTU, the `tap` section's name, MAC and MTU, and
/// no addresses (the interface keeps them; the kernel takes a packet for any of its addresses
/// on any interface).
fn punt_taps(
    config: &Config,
    wanted: impl Fn(usize) -> bool,
) -> Result<(KernelSide, TapQueues), RuntimeError> {
    let mut side = KernelSide::default();
    let mut tap_queues = TapQueues::new();
    for (p, port) in config.ports.iter().enumerate() {
        tap_queues.push(Vec::new());
        if port.punt != Some(PuntPath::Tap) || !wanted(p) {
            continue;
        }
        let tap_error = |source| RuntimeError::Tap {
            port: p as PortId,
            source,
        };
        let interface = KernelInterface::get(&port.interface).map_err(tap_error)?;
        let default = TapConfig::default();
        let tap_config = port.tap.as_ref().unwrap_or(&default);
        let mut spec = TapSpec::from_config(
            tap_config,
            &port.interface,
            interface.mac,
            port.queues.len(),
        )
        .map_err(tap_error)?;
        spec.addresses.clear();
        spec.mtu = spec.mtu.or(Some(interface.mtu));
        warn_if_strict_reverse_path_filter(&spec.name);
        tap_queues[p] = side.create(p, &spec)?;
    }
    Ok((side, tap_queues))
}

/// Strict reverse-path filtering (`rp_filter` 1, the larger of `all` and the device's own
/// counts) drops punted packets: their source is routed through the interface, not the TAP.
fn warn_if_strict_reverse_path_filter(tap: &str) {
    let read = |conf: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{conf}/rp_filter"))
            .ok()
            .and_then(|text| text.trim().parse::<u8>().ok())
            .unwrap_or(0)
    };
    if read("all").max(read("default")) == 1 {
        log::warn!(
            "net.ipv4.conf.all/default.rp_filter is 1 (strict): the kernel drops IPv4 packets \
             punted to {tap}; set it to 0 or 2 (loose)"
        );
    }
}

/// The kernel interface a DPDK device drives, for the vdevs that sit on one (`net_af_xdp`,
/// `net_af_packet`: `iface=NAME`).
fn kernel_interface_of(device: &str) -> Option<&str> {
    let mut parts = device.split(',');
    let driver = parts.next()?;
    if !(driver.starts_with("net_af_xdp") || driver.starts_with("net_af_packet")) {
        return None;
    }
    parts.find_map(|arg| arg.strip_prefix("iface="))
}

/// Where a queue's kernel-side socket counters come from.
pub(crate) enum SocketStats {
    Xsk(XskStatsReader),
    Packet(PacketStatsReader),
    None,
}

/// What the runtime keeps about one port queue for statistics.
pub(crate) struct QueueHandle {
    pub port: PortId,
    pub queue: u16,
    pub core: u16,
    pub zero_copy: bool,
    pub counters: Arc<[QueueCounters]>,
    /// Index into `counters`.
    pub index: usize,
    pub socket: SocketStats,
}

pub(crate) struct Built {
    /// One per data-plane thread that serves queues, in core order.
    pub threads: Vec<QueueIo>,
    pub queues: Vec<QueueHandle>,
    pub ports: Ports,
    pub kernel: KernelSide,
}

/// One port queue as the config lists it.
struct ConfiguredQueue {
    port: PortId,
    /// Position among its port's queues (the TAP queue it pairs with).
    nth: usize,
    id: u16,
}

/// The config's queues, grouped by the core that serves them.
fn queues_by_core(config: &Config) -> BTreeMap<u16, Vec<ConfiguredQueue>> {
    let mut by_core: BTreeMap<u16, Vec<ConfiguredQueue>> = BTreeMap::new();
    for (p, port) in config.ports.iter().enumerate() {
        for (nth, q) in port.queues.iter().enumerate() {
            by_core.entry(q.core).or_default().push(ConfiguredQueue {
                port: p as PortId,
                nth,
                id: q.id,
            });
        }
    }
    by_core
}

pub(crate) fn build(config: &Config) -> Result<Built, RuntimeError> {
    if config.deployment.mode == DeploymentMode::DevicePlugin {
        return build_handed(config);
    }
    match config.backend {
        BackendKind::AfXdp => build_af_xdp(config),
        BackendKind::Dpdk => build_dpdk(config),
        BackendKind::AfPacket => build_af_packet(config),
    }
}

struct ThreadParts<'a> {
    config: &'a Config,
    /// Per port, the tables of its filter (its own or the config's).
    filters: Vec<Arc<FilterTables>>,
}

/// Keeps, for statistics, each queue a thread serves (in the thread's source order): its port,
/// queue id, whether it is zero-copy, and where its socket counters come from.
fn record_queues(
    handles: &mut Vec<QueueHandle>,
    thread: &QueueIo,
    core: u16,
    queues: impl IntoIterator<Item = (PortId, u16, bool, SocketStats)>,
) {
    for (index, (port, queue, zero_copy, socket)) in queues.into_iter().enumerate() {
        handles.push(QueueHandle {
            port,
            queue,
            core,
            zero_copy,
            counters: thread.counters.clone(),
            index,
            socket,
        });
    }
}

impl<'a> ThreadParts<'a> {
    fn new(config: &'a Config) -> Self {
        let filters = config
            .ports
            .iter()
            .map(|port| Arc::new(*FilterTables::new(port.effective_filter(config))))
            .collect();
        ThreadParts { config, filters }
    }

    fn thread(&self, core: u16, io: Box<dyn ThreadIo>, taps: Vec<Option<TapQueue>>) -> QueueIo {
        let counters: Arc<[QueueCounters]> = io
            .queues()
            .iter()
            .map(|_| QueueCounters::default())
            .collect();
        let filters = io
            .queues()
            .iter()
            .map(|q| self.filters[q.port as usize].clone())
            .collect();
        QueueIo {
            core,
            io,
            counters,
            batch_size: self.config.threads.batch_size as usize,
            slow_path: SlowPath { filters, taps },
        }
    }
}

fn build_af_xdp(config: &Config) -> Result<Built, RuntimeError> {
    let parts = ThreadParts::new(config);
    let mut threads = Vec::new();
    let mut queues = Vec::new();
    let mut sockets = Vec::new();
    let (kernel, mut tap_queues) = punt_taps(config, |_| true)?;
    // Sockets first: the XDP program then never redirects to a queue without one.
    for (core, configured) in queues_by_core(config) {
        let xsk_queues: Vec<QueueSpec> = configured
            .iter()
            .map(|q| QueueSpec {
                port: q.port,
                interface: config.ports[q.port as usize].interface.clone(),
                queue: q.id,
            })
            .collect();
        let batch_size = config.threads.batch_size as usize;
        let (io, infos) = fastlane_afxdp::open_thread(&config.af_xdp, &xsk_queues, batch_size)
            .map_err(|source| RuntimeError::AfXdp { core, source })?;
        let thread = parts.thread(
            core,
            Box::new(io),
            taps_of_thread(&mut tap_queues, &configured),
        );
        sockets.extend(infos.iter().map(|info| (info.port, info.queue, info.fd)));
        let handles = infos.into_iter().map(|info| {
            (
                info.port,
                info.queue,
                info.zero_copy,
                SocketStats::Xsk(info.stats),
            )
        });
        record_queues(&mut queues, &thread, core, handles);
        threads.push(thread);
    }
    let mut ports = Vec::new();
    for (p, port) in config.ports.iter().enumerate() {
        let xdp_error = |source| RuntimeError::Xdp {
            port: p as PortId,
            interface: port.interface.clone(),
            source,
        };
        let mut xdp = XdpPort::attach(
            &port.interface,
            config.af_xdp.attach_mode,
            &parts.filters[p],
        )
        .map_err(xdp_error)?;
        for &(_, queue, fd) in sockets.iter().filter(|(sp, _, _)| *sp as usize == p) {
            xdp.register_socket(queue as u32, fd).map_err(xdp_error)?;
        }
        ports.push(Mutex::new(xdp));
    }
    Ok(Built {
        threads,
        queues,
        ports: Ports::AfXdp(ports),
        kernel,
    })
}

fn build_dpdk(config: &Config) -> Result<Built, RuntimeError> {
    let parts = ThreadParts::new(config);
    let dpdk = Dpdk::start(config).map_err(RuntimeError::Dpdk)?;
    let mut kernel = KernelSide::default();
    let mut tap_queues = TapQueues::new();
    for (p, port) in config.ports.iter().enumerate() {
        let default = TapConfig::default();
        let tap_config = port.tap.as_ref().unwrap_or(&default);
        let mac = dpdk.port_mac(p as PortId);
        let tap_error = |source| RuntimeError::Tap {
            port: p as PortId,
            source,
        };
        let spec = TapSpec::from_config(tap_config, &port.interface, mac, port.queues.len())
            .map_err(tap_error)?;
        if let Some(device) = config.dpdk.devices.get(&port.interface) {
            if let Some(interface) = kernel_interface_of(device) {
                kernel.hide_from_kernel(p, device, interface, &spec)?;
            }
        }
        tap_queues.push(kernel.create(p, &spec)?);
    }
    let mut threads = Vec::new();
    let mut queues = Vec::new();
    for (core, configured) in queues_by_core(config) {
        let dpdk_queues: Vec<QueueSpec> = configured
            .iter()
            .map(|q| QueueSpec {
                port: q.port,
                interface: config.ports[q.port as usize].interface.clone(),
                queue: q.nth as u16,
            })
            .collect();
        let io = dpdk
            .thread(&dpdk_queues, config.threads.batch_size as usize)
            .map_err(RuntimeError::Dpdk)?;
        let thread = parts.thread(
            core,
            Box::new(io),
            taps_of_thread(&mut tap_queues, &configured),
        );
        let handles = configured
            .iter()
            .map(|q| (q.port, q.id, false, SocketStats::None));
        record_queues(&mut queues, &thread, core, handles);
        threads.push(thread);
    }
    Ok(Built {
        threads,
        queues,
        ports: Ports::Dpdk(dpdk),
        kernel,
    })
}

fn build_af_packet(config: &Config) -> Result<Built, RuntimeError> {
    let parts = ThreadParts::new(config);
    let mut ports = Vec::new();
    for (p, port) in config.ports.iter().enumerate() {
        let opened =
            fastlane_afpacket::open_port(&config.af_packet, &port.interface, &parts.filters[p])
                .map(|opened| opened.with_queue_count(port.queues.len()))
                .map_err(|source| RuntimeError::AfPacket {
                    port: Some(p as PortId),
                    source,
                })?;
        if opened.mechanism() == SplitMechanism::UserSpace {
            log::warn!(
                "{}: no BPF allowed, so fast/slow classification runs in user space and the kernel \
                 also sees fast-path packets",
                port.interface
            );
        }
        ports.push(opened);
    }
    // A port whose split runs in user space leaves every frame to the kernel anyway.
    let (kernel, mut tap_queues) = punt_taps(config, |p| {
        ports[p].mechanism() != SplitMechanism::UserSpace
    })?;
    let port_refs: Vec<&AfPacketPort> = ports.iter().collect();
    let mut threads = Vec::new();
    let mut queues = Vec::new();
    for (core, configured) in queues_by_core(config) {
        let packet_queues: Vec<QueueSpec> = configured
            .iter()
            .map(|q| QueueSpec {
                port: q.port,
                interface: config.ports[q.port as usize].interface.clone(),
                queue: q.id,
            })
            .collect();
        let batch_size = config.threads.batch_size as usize;
        let io = fastlane_afpacket::open_thread(
            &config.af_packet,
            &port_refs,
            &packet_queues,
            batch_size,
        )
        .map_err(|source| RuntimeError::AfPacket { port: None, source })?;
        let readers: Vec<PacketStatsReader> =
            (0..configured.len()).map(|s| io.stats_reader(s)).collect();
        let thread = parts.thread(
            core,
            Box::new(io),
            taps_of_thread(&mut tap_queues, &configured),
        );
        let handles = configured
            .iter()
            .zip(readers)
            .map(|(q, reader)| (q.port, q.id, false, SocketStats::Packet(reader)));
        record_queues(&mut queues, &thread, core, handles);
        threads.push(thread);
    }
    Ok(Built {
        threads,
        queues,
        ports: Ports::AfPacket(ports),
        kernel,
    })
}

/// `FASTLANE_DEVICE_PLUGIN_SOCKET`: the handoff socket, as the device plugin's Allocate names it.
pub const SOCKET_ENV: &str = "FASTLANE_DEVICE_PLUGIN_SOCKET";
/// `FASTLANE_TOKEN`: the allocation's one-time token.
pub const TOKEN_ENV: &str = "FASTLANE_TOKEN";
/// How long the device plugin may take to build and hand over the ports.
const HANDOFF_TIMEOUT: Duration = Duration::from_secs(30);

/// The config's value, else the environment's.
fn from_config_or_env(
    value: &Option<String>,
    field: &str,
    env: &str,
) -> Result<String, RuntimeError> {
    if let Some(value) = value {
        return Ok(value.clone());
    }
    std::env::var(env).map_err(|_| {
        RuntimeError::Deployment(format!(
            "neither /deployment/{field} nor the environment's {env} is set (the device \
             plugin's Allocate sets {env} in the container)"
        ))
    })
}

/// What the device plugin is asked for: the config's ports, filters, punt TAPs and options, and
/// its queues grouped by the core that serves them.
fn handoff_request(
    config: &Config,
    token: String,
    by_core: &BTreeMap<u16, Vec<ConfiguredQueue>>,
) -> Request {
    let backend = match config.backend {
        BackendKind::AfPacket => HandedBackend::AfPacket,
        // Config::check refuses dpdk in device_plugin mode.
        BackendKind::AfXdp | BackendKind::Dpdk => HandedBackend::AfXdp,
    };
    Request {
        version: fastlane_handoff::PROTOCOL_VERSION,
        token,
        backend,
        ports: config
            .ports
            .iter()
            .map(|port| PortRequest {
                interface: port.interface.clone(),
                queues: port.queues.iter().map(|q| q.id).collect(),
                filter: port.effective_filter(config).clone(),
                punt_tap: (port.punt == Some(PuntPath::Tap))
                    .then(|| port.tap.clone().unwrap_or_default()),
            })
            .collect(),
        threads: by_core
            .values()
            .map(|queues| {
                queues
                    .iter()
                    .map(|q| QueueRef {
                        port: q.port,
                        queue: q.id,
                    })
                    .collect()
            })
            .collect(),
        af_xdp: config.af_xdp.clone(),
        af_packet: config.af_packet.clone(),
        batch_size: config.threads.batch_size,
    }
}

/// `deployment.mode` `device_plugin`: takes every descriptor from the device plugin and runs the
/// same data path on them. Needs no capability.
fn build_handed(config: &Config) -> Result<Built, RuntimeError> {
    let socket = from_config_or_env(&config.deployment.socket, "socket", SOCKET_ENV)?;
    let token = from_config_or_env(&config.deployment.token, "token", TOKEN_ENV)?;
    let by_core = queues_by_core(config);
    let request = handoff_request(config, token, &by_core);
    let handed = fastlane_handoff::request_handoff(Path::new(&socket), &request, HANDOFF_TIMEOUT)?;
    let parts = ThreadParts::new(config);
    let batch_size = config.threads.batch_size as usize;
    let mut kernel = KernelSide::default();
    let mut tap_queues = TapQueues::new();
    let mut links = Vec::new();
    let mut xdp = Vec::new();
    for (p, port) in handed.ports.into_iter().enumerate() {
        let mut queues = Vec::new();
        let mut name = None;
        if let Some(tap) = port.tap {
            for fd in tap.queues {
                let queue = TapQueue::adopt(fd, tap.mtu).map_err(|source| RuntimeError::Tap {
                    port: p as PortId,
                    source,
                })?;
                queues.push(Some(queue));
            }
            name = Some(tap.name);
        }
        tap_queues.push(queues);
        kernel.handed_taps.push(name);
        xdp.push(port.xdp.map(|(attach, counters, link)| {
            links.push(link);
            (attach, counters)
        }));
        links.extend(port.tc_link);
    }
    let mut threads = Vec::new();
    let mut queues = Vec::new();
    for (thread, (core, configured)) in handed.threads.into_iter().zip(by_core) {
        let taps = taps_of_thread(&mut tap_queues, &configured);
        match thread {
            HandedThread::AfXdp(export) => {
                let (io, infos) = fastlane_afxdp::adopt_thread(export, batch_size)
                    .map_err(|source| RuntimeError::AfXdp { core, source })?;
                let thread = parts.thread(core, Box::new(io), taps);
                let handles = infos.into_iter().map(|info| {
                    (
                        info.port,
                        info.queue,
                        info.zero_copy,
                        SocketStats::Xsk(info.stats),
                    )
                });
                record_queues(&mut queues, &thread, core, handles);
                threads.push(thread);
            }
            HandedThread::AfPacket { sockets, split } => {
                let specs: Vec<QueueSpec> = configured
                    .iter()
                    .map(|q| QueueSpec {
                        port: q.port,
                        interface: config.ports[q.port as usize].interface.clone(),
                        queue: q.id,
                    })
                    .collect();
                let io = fastlane_afpacket::adopt_thread(
                    &config.af_packet,
                    &specs,
                    sockets,
                    split,
                    batch_size,
                )
                .map_err(|source| RuntimeError::AfPacket { port: None, source })?;
                let readers: Vec<PacketStatsReader> =
                    (0..configured.len()).map(|s| io.stats_reader(s)).collect();
                let thread = parts.thread(core, Box::new(io), taps);
                let handles = configured
                    .iter()
                    .zip(readers)
                    .map(|(q, reader)| (q.port, q.id, false, SocketStats::Packet(reader)));
                record_queues(&mut queues, &thread, core, handles);
                threads.push(thread);
            }
        }
    }
    Ok(Built {
        threads,
        queues,
        ports: Ports::Handed(HandedPorts {
            _session: handed.session,
            _links: links,
            xdp,
        }),
        kernel,
    })
}

impl SocketStats {
    pub fn read(&self) -> Named {
        match self {
            SocketStats::Xsk(reader) => reader.read().map_or_else(
                |_| Vec::new(),
                |s| {
                    vec![
                        ("rx_dropped", s.rx_dropped),
                        ("rx_invalid_descs", s.rx_invalid_descs),
                        ("tx_invalid_descs", s.tx_invalid_descs),
                        ("rx_ring_full", s.rx_ring_full),
                        ("rx_fill_ring_empty_descs", s.rx_fill_ring_empty_descs),
                        ("tx_ring_empty_descs", s.tx_ring_empty_descs),
                    ]
                },
            ),
            SocketStats::Packet(reader) => reader.read().map_or_else(
                |_| Vec::new(),
                |s| {
                    vec![
                        ("packets", s.packets),
                        ("drops", s.drops),
                        ("freeze_q_cnt", s.freeze_q_cnt),
                    ]
                },
            ),
            SocketStats::None => Vec::new(),
        }
    }
}

impl Ports {
    /// The XDP split's counters of port `p`, if the backend uses one.
    pub fn xdp(&self, p: usize) -> Option<XdpPortStats> {
        let (native, counters) = match self {
            Ports::AfXdp(ports) => {
                let port = ports[p].lock().unwrap_or_else(|e| e.into_inner());
                let native = port.mode() == fastlane_xdp::AttachedMode::Native;
                (native, port.counters().unwrap_or_default())
            }
            Ports::Handed(handed) => {
                let (attach, counters) = handed.xdp.get(p)?.as_ref()?;
                (
                    *attach == XdpAttach::Native,
                    counters.as_ref()?.read().unwrap_or_default(),
                )
            }
            Ports::Dpdk(_) | Ports::AfPacket(_) => return None,
        };
        Some(XdpPortStats {
            attach_mode: if native { "native" } else { "generic" },
            redirected: counters.redirected,
            no_socket: counters.no_socket,
            passed: stats::slow_names(&counters.passed),
        })
    }

    /// The device's own counters of port `p`.
    pub fn device(&self, p: usize) -> Named {
        match self {
            Ports::Dpdk(dpdk) => dpdk.port_stats(p as PortId).map_or_else(
                |_| Vec::new(),
                |s| {
                    vec![
                        ("rx_packets", s.ipackets),
                        ("tx_packets", s.opackets),
                        ("rx_missed", s.imissed),
                        ("rx_errors", s.ierrors),
                        ("tx_errors", s.oerrors),
                        ("rx_no_mbuf", s.rx_nombuf),
                    ]
                },
            ),
            Ports::AfXdp(_) | Ports::AfPacket(_) | Ports::Handed(_) => Vec::new(),
        }
    }

    /// Detaches and closes everything, reporting what failed.
    pub fn close(self) {
        match self {
            Ports::AfXdp(ports) => {
                for port in ports {
                    let port = port.into_inner().unwrap_or_else(|e| e.into_inner());
                    let interface = port.interface().to_string();
                    if let Err(e) = port.detach() {
                        log::warn!("detaching XDP from {interface}: {e}");
                    }
                }
            }
            Ports::Dpdk(dpdk) => drop(dpdk),
            Ports::AfPacket(ports) => drop(ports),
            // Closing the session tells the plugin to detach what it made for this process.
            Ports::Handed(handed) => drop(handed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::kernel_interface_of;

    #[test]
    fn only_vdevs_over_a_kernel_interface_name_one() {
        assert_eq!(kernel_interface_of("net_af_xdp0,iface=eth0"), Some("eth0"));
        assert_eq!(
            kernel_interface_of("net_af_packet1,qpairs=2,iface=ens5"),
            Some("ens5")
        );
        assert_eq!(kernel_interface_of("net_af_packet0,qpairs=1"), None);
        assert_eq!(kernel_interface_of("net_tap0,iface=tap0"), None);
        assert_eq!(kernel_interface_of("0000:3b:00.0"), None);
    }
}
