//! Fastlane's runtime: turns a [`Config`] into running data-plane threads.
//!
//! `start` does all its setup inside the config's network namespace, in an order that never
//! exposes a half-built data plane: sockets first (one thread's UMEM shared by the queues pinned to
//! its core), then the XDP split on each port with every socket registered, then one thread per
//! core. Any failure undoes what was built (sockets close, XDP programs detach) and returns the
//! error with the kernel's context. `stop` joins the threads and detaches the programs.

mod stats;
mod sys;
mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use fastlane_afxdp::{XskQueue, XskStatsReader};
use fastlane_core::config::{BackendKind, Config, ConfigErrors};
use fastlane_core::netns::{self, NetnsError};
use fastlane_core::processor::CountStats;
use fastlane_core::{FilterTables, Pipeline, PortId, QueueCounters};
use fastlane_xdp::{AttachedMode, XdpPort};

pub use stats::{PortStats, QueueStats, StageStats, Stats, XskKernelStats};
use worker::{SlowPath, Worker};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("AF_XDP sockets for core {core}: {source}")]
    AfXdp {
        core: u16,
        source: fastlane_afxdp::AfXdpError,
    },
    #[error("XDP program on port {port} ({interface}): {source}")]
    Xdp {
        port: PortId,
        interface: String,
        source: fastlane_xdp::XdpError,
    },
    #[error("data-plane thread for core {core}: {message}")]
    Thread { core: u16, message: String },
    #[error("backend {0:?} is not available in this build")]
    Unsupported(BackendKind),
    #[error("the data plane is already running")]
    AlreadyRunning,
}

/// A data plane built from one config; start and stop it as often as needed.
#[derive(Debug)]
pub struct Dataplane {
    config: Config,
    running: Option<Running>,
    /// The counters as they were when the data plane last stopped.
    last_stats: Option<Stats>,
}

/// What exists while the data plane runs. Field order is drop order: threads are joined (by
/// `stop`) before the XDP programs detach and the sockets close.
struct Running {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    failure: Arc<Mutex<Option<String>>>,
    queues: Vec<QueueHandle>,
    ports: Vec<Mutex<XdpPort>>,
    stages: Vec<(usize, Arc<CountStats>)>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

struct QueueHandle {
    port: PortId,
    queue: u16,
    core: u16,
    zero_copy: bool,
    counters: Arc<[QueueCounters]>,
    /// Index into `counters`.
    index: usize,
    xsk: XskStatsReader,
}

impl Dataplane {
    /// Parses and checks a config document.
    pub fn from_json(text: &str) -> Result<Dataplane, RuntimeError> {
        Ok(Dataplane::new(Config::from_json(text)?))
    }

    pub fn new(config: Config) -> Dataplane {
        Dataplane {
            config,
            running: None,
            last_stats: None,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The first failure of a data-plane thread since start, if any.
    pub fn failure(&self) -> Option<String> {
        let running = self.running.as_ref()?;
        let failure = running.failure.lock().unwrap_or_else(|e| e.into_inner());
        failure.clone()
    }

    pub fn start(&mut self) -> Result<(), RuntimeError> {
        if self.running.is_some() {
            return Err(RuntimeError::AlreadyRunning);
        }
        if self.config.backend != BackendKind::AfXdp {
            return Err(RuntimeError::Unsupported(self.config.backend));
        }
        let config = &self.config;
        let (workers, queues, ports) = netns::run_in(config.netns.as_deref(), || build(config))??;
        let stages = workers
            .iter()
            .flat_map(|w| w.pipeline.counts.clone())
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(Mutex::new(None));
        let mut running = Running {
            stop,
            threads: Vec::new(),
            failure,
            queues,
            ports,
            stages,
        };
        let (ready_tx, ready_rx) = mpsc::channel();
        for worker in workers {
            let core = worker.core;
            let (stop, failure, ready) = (
                running.stop.clone(),
                running.failure.clone(),
                ready_tx.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("fastlane-core{core}"))
                .spawn(move || worker.run(stop, ready, failure));
            match spawned {
                Ok(handle) => running.threads.push(handle),
                Err(e) => {
                    running.shut_down();
                    return Err(RuntimeError::Thread {
                        core,
                        message: e.to_string(),
                    });
                }
            }
        }
        drop(ready_tx);
        for _ in 0..running.threads.len() {
            let (core, message) = match ready_rx.recv() {
                Ok((_, Ok(()))) => continue,
                Ok((core, Err(message))) => (core, message),
                Err(mpsc::RecvError) => (0, "a thread ended before it was ready".to_string()),
            };
            running.shut_down();
            return Err(RuntimeError::Thread { core, message });
        }
        self.running = Some(running);
        Ok(())
    }

    /// Stops the threads and detaches the XDP programs. Stopping a stopped data plane is a no-op.
    pub fn stop(&mut self) {
        if let Some(running) = self.running.as_mut() {
            running.stop_threads();
            self.last_stats = self.stats();
        }
        if let Some(mut running) = self.running.take() {
            running.shut_down();
        }
    }

    /// Counters since start; once stopped, the final counters; `None` before the first start.
    pub fn stats(&self) -> Option<Stats> {
        let Some(running) = self.running.as_ref() else {
            return self.last_stats.clone();
        };
        let interface = |port: PortId| self.config.ports[port as usize].interface.clone();
        let queues = running
            .queues
            .iter()
            .map(|q| {
                let c = &q.counters[q.index];
                let xdp = q.xsk.read().map(|s| XskKernelStats {
                    rx_dropped: s.rx_dropped,
                    rx_invalid_descs: s.rx_invalid_descs,
                    tx_invalid_descs: s.tx_invalid_descs,
                    rx_ring_full: s.rx_ring_full,
                    rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
                    tx_ring_empty_descs: s.tx_ring_empty_descs,
                });
                QueueStats {
                    port: q.port,
                    interface: interface(q.port),
                    queue: q.queue,
                    core: q.core,
                    zero_copy: q.zero_copy,
                    rx_packets: c.rx_packets.get(),
                    rx_bytes: c.rx_bytes.get(),
                    tx_packets: c.tx_packets.get(),
                    tx_bytes: c.tx_bytes.get(),
                    kernel_packets: c.kernel_packets.get(),
                    rx_batches: c.rx_batches.get(),
                    dropped: stats::drop_names(|r| c.dropped(r)),
                    xdp: xdp.unwrap_or_default(),
                }
            })
            .collect();
        let ports = running
            .ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                let port = port.lock().unwrap_or_else(|e| e.into_inner());
                let counters = port.counters().unwrap_or_default();
                PortStats {
                    port: i as PortId,
                    interface: port.interface().to_string(),
                    attach_mode: match port.mode() {
                        AttachedMode::Native => "native",
                        AttachedMode::Generic => "generic",
                    },
                    redirected: counters.redirected,
                    no_socket: counters.no_socket,
                    passed: stats::slow_names(&counters.passed),
                }
            })
            .collect();
        let mut pipeline: BTreeMap<usize, StageStats> = BTreeMap::new();
        for (stage, counts) in &running.stages {
            let entry = pipeline.entry(*stage).or_insert(StageStats {
                stage: *stage,
                ..Default::default()
            });
            entry.packets += counts.packets.get();
            entry.bytes += counts.bytes.get();
        }
        Some(Stats {
            queues,
            ports,
            pipeline: pipeline.into_values().collect(),
        })
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Running {
    fn stop_threads(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }

    fn shut_down(&mut self) {
        self.stop_threads();
        for port in self.ports.drain(..) {
            let port = port.into_inner().unwrap_or_else(|e| e.into_inner());
            let interface = port.interface().to_string();
            if let Err(e) = port.detach() {
                log::warn!("detaching XDP from {interface}: {e}");
            }
        }
    }
}

type Built = (Vec<Worker>, Vec<QueueHandle>, Vec<Mutex<XdpPort>>);

/// Opens every socket and attaches every XDP program, in the caller's network namespace. On error
/// what was built so far is dropped, which closes it.
fn build(config: &Config) -> Result<Built, RuntimeError> {
    let mut by_core: BTreeMap<u16, Vec<XskQueue>> = BTreeMap::new();
    for (p, port) in config.ports.iter().enumerate() {
        for q in &port.queues {
            by_core.entry(q.core).or_default().push(XskQueue {
                port: p as PortId,
                interface: port.interface.clone(),
                queue: q.id,
            });
        }
    }
    let batch_size = config.threads.batch_size as usize;
    let filter = Arc::new(*FilterTables::new(&config.filter));
    let mut workers = Vec::new();
    let mut queues = Vec::new();
    let mut sockets = Vec::new();
    for (core, xsk_queues) in by_core {
        let (io, infos) = fastlane_afxdp::open_thread(&config.af_xdp, &xsk_queues, batch_size)
            .map_err(|source| RuntimeError::AfXdp { core, source })?;
        let counters: Arc<[QueueCounters]> =
            infos.iter().map(|_| QueueCounters::default()).collect();
        for (index, info) in infos.into_iter().enumerate() {
            sockets.push((info.port, info.queue, info.fd));
            queues.push(QueueHandle {
                port: info.port,
                queue: info.queue,
                core,
                zero_copy: info.zero_copy,
                counters: counters.clone(),
                index,
                xsk: info.stats,
            });
        }
        workers.push(Worker {
            core,
            io: Box::new(io),
            pipeline: Pipeline::build(&config.pipeline),
            counters,
            batch_size,
            slow_path: SlowPath {
                filter: filter.clone(),
                taps: Vec::new(),
            },
        });
    }
    let mut ports = Vec::new();
    for (p, port) in config.ports.iter().enumerate() {
        let xdp_error = |source| RuntimeError::Xdp {
            port: p as PortId,
            interface: port.interface.clone(),
            source,
        };
        let mut xdp = XdpPort::attach(&port.interface, config.af_xdp.attach_mode, &filter)
            .map_err(xdp_error)?;
        for &(_, queue, fd) in sockets.iter().filter(|(sp, _, _)| *sp as usize == p) {
            xdp.register_socket(queue as u32, fd).map_err(xdp_error)?;
        }
        ports.push(Mutex::new(xdp));
    }
    Ok((workers, queues, ports))
}
