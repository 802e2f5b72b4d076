//! Turning a config into each backend's resources and one [`Worker`] per core. Everything here
//! runs inside the config's network namespace; on error what was built so far is dropped, which
//! closes sockets, detaches programs and removes TAP devices.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use fastlane_afpacket::{AfPacketPort, PacketQueue, PacketStatsReader, SplitMechanism};
use fastlane_afxdp::{XskQueue, XskStatsReader};
use fastlane_core::config::{BackendKind, Config, TapConfig};
use fastlane_core::{FilterTables, PortId, QueueCounters, ThreadIo};
use fastlane_dpdk::{Dpdk, DpdkQueue};
use fastlane_tap::{Tap, TapQueue, TapSpec};
use fastlane_xdp::XdpPort;

use crate::stats::{self, Named, XdpPortStats};
use crate::worker::{QueueIo, SlowPath};
use crate::RuntimeError;

/// What a backend keeps open while the data plane runs; dropped after the threads have ended.
pub(crate) enum Ports {
    AfXdp(Vec<Mutex<XdpPort>>),
    Dpdk { dpdk: Dpdk, taps: Vec<Tap> },
    AfPacket(Vec<AfPacketPort>),
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
    match config.backend {
        BackendKind::AfXdp => build_af_xdp(config),
        BackendKind::Dpdk => build_dpdk(config),
        BackendKind::AfPacket => build_af_packet(config),
    }
}

struct ThreadParts<'a> {
    config: &'a Config,
    filter: Arc<FilterTables>,
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
        let filter = Arc::new(*FilterTables::new(&config.filter));
        ThreadParts { config, filter }
    }

    fn thread(&self, core: u16, io: Box<dyn ThreadIo>, taps: Vec<TapQueue>) -> QueueIo {
        let counters: Arc<[QueueCounters]> = io
            .queues()
            .iter()
            .map(|_| QueueCounters::default())
            .collect();
        QueueIo {
            core,
            io,
            counters,
            batch_size: self.config.threads.batch_size as usize,
            slow_path: SlowPath {
                filter: self.filter.clone(),
                taps,
            },
        }
    }
}

fn build_af_xdp(config: &Config) -> Result<Built, RuntimeError> {
    let parts = ThreadParts::new(config);
    let filter = &*parts.filter;
    let mut threads = Vec::new();
    let mut queues = Vec::new();
    let mut sockets = Vec::new();
    // Sockets first: the XDP program then never redirects to a queue without one.
    for (core, configured) in queues_by_core(config) {
        let xsk_queues: Vec<XskQueue> = configured
            .iter()
            .map(|q| XskQueue {
                port: q.port,
                interface: config.ports[q.port as usize].interface.clone(),
                queue: q.id,
            })
            .collect();
        let batch_size = config.threads.batch_size as usize;
        let (io, infos) = fastlane_afxdp::open_thread(&config.af_xdp, &xsk_queues, batch_size)
            .map_err(|source| RuntimeError::AfXdp { core, source })?;
        let thread = parts.thread(core, Box::new(io), Vec::new());
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
        let mut xdp = XdpPort::attach(&port.interface, config.af_xdp.attach_mode, filter)
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
    })
}

fn build_dpdk(config: &Config) -> Result<Built, RuntimeError> {
    let parts = ThreadParts::new(config);
    let dpdk = Dpdk::start(config).map_err(RuntimeError::Dpdk)?;
    let mut taps = Vec::new();
    let mut tap_queues: Vec<Vec<Option<TapQueue>>> = Vec::new();
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
        let mut tap = Tap::create(&spec).map_err(tap_error)?;
        tap_queues.push(
            (0..port.queues.len())
                .map(|i| Some(tap.take_queue(i)))
                .collect(),
        );
        taps.push(tap);
    }
    let mut threads = Vec::new();
    let mut queues = Vec::new();
    for (core, configured) in queues_by_core(config) {
        let dpdk_queues: Vec<DpdkQueue> = configured
            .iter()
            .map(|q| DpdkQueue {
                port: q.port,
                interface: config.ports[q.port as usize].interface.clone(),
                queue: q.nth as u16,
            })
            .collect();
        let io = dpdk
            .thread(&dpdk_queues, config.threads.batch_size as usize)
            .map_err(RuntimeError::Dpdk)?;
        let taps_of_thread = configured
            .iter()
            .map(|q| {
                tap_queues[q.port as usize][q.nth]
                    .take()
                    .expect("each TAP queue once")
            })
            .collect();
        let thread = parts.thread(core, Box::new(io), taps_of_thread);
        let handles = configured
            .iter()
            .map(|q| (q.port, q.id, false, SocketStats::None));
        record_queues(&mut queues, &thread, core, handles);
        threads.push(thread);
    }
    Ok(Built {
        threads,
        queues,
        ports: Ports::Dpdk { dpdk, taps },
    })
}

fn build_af_packet(config: &Config) -> Result<Built, RuntimeError> {
    let parts = ThreadParts::new(config);
    let filter = &*parts.filter;
    let mut ports = Vec::new();
    for (p, port) in config.ports.iter().enumerate() {
        let opened = fastlane_afpacket::open_port(&config.af_packet, &port.interface, filter)
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
    let port_refs: Vec<&AfPacketPort> = ports.iter().collect();
    let mut threads = Vec::new();
    let mut queues = Vec::new();
    for (core, configured) in queues_by_core(config) {
        let packet_queues: Vec<PacketQueue> = configured
            .iter()
            .map(|q| PacketQueue {
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
        let thread = parts.thread(core, Box::new(io), Vec::new());
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
        let Ports::AfXdp(ports) = self else {
            return None;
        };
        let port = ports[p].lock().unwrap_or_else(|e| e.into_inner());
        let counters = port.counters().unwrap_or_default();
        Some(XdpPortStats {
            attach_mode: match port.mode() {
                fastlane_xdp::AttachedMode::Native => "native",
                fastlane_xdp::AttachedMode::Generic => "generic",
            },
            redirected: counters.redirected,
            no_socket: counters.no_socket,
            passed: stats::slow_names(&counters.passed),
        })
    }

    /// The device's own counters of port `p`.
    pub fn device(&self, p: usize) -> Named {
        match self {
            Ports::Dpdk { dpdk, .. } => dpdk.port_stats(p as PortId).map_or_else(
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
            Ports::AfXdp(_) | Ports::AfPacket(_) => Vec::new(),
        }
    }

    pub fn tap(&self, p: usize) -> Option<String> {
        match self {
            Ports::Dpdk { taps, .. } => taps.get(p).map(|t| t.name().to_string()),
            Ports::AfXdp(_) | Ports::AfPacket(_) => None,
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
            Ports::Dpdk { dpdk, taps } => {
                drop(taps);
                drop(dpdk);
            }
            Ports::AfPacket(ports) => drop(ports),
        }
    }
}
