//! Fastlane's runtime: turns a [`Config`] into running data-plane threads.
//!
//! `start` does all its setup inside the config's network namespace, in an order that never
//! exposes a half-built data plane: sockets first (one thread's UMEM shared by the queues pinned to
//! its core), then the XDP split on each port with every socket registered, then one thread per
//! core. Any failure undoes what was built (sockets close, XDP programs detach) and returns the
//! error with the kernel's context. `stop` joins the threads and detaches the programs.

mod backend;
mod master_worker;
pub mod neighbours;
mod stats;
mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use fastlane_core::config::{Config, ConfigErrors, ThreadModel};
use fastlane_core::netns::{self, NetnsError};
use fastlane_core::processor::{BuiltinsOnly, CountStats, ProcessorFactory};
use fastlane_core::PortId;

use backend::{KernelSide, Ports, QueueHandle};
use fastlane_core::Pipeline;
use master_worker::{IoThread, Link, ProcessingThread};
use worker::Worker;

/// What a data-plane thread runs once pinned.
type ThreadBody = Box<dyn FnOnce() + Send>;
pub use backend::{SOCKET_ENV, TOKEN_ENV};
pub use stats::{Named, PortStats, QueueStats, StageStats, Stats, XdpPortStats};
pub use worker::{Outbox, Sink, TakeOutboxes};

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
    #[error("AF_PACKET{}: {source}", port.map(|p| format!(" port {p}")).unwrap_or_default())]
    AfPacket {
        port: Option<PortId>,
        source: fastlane_afpacket::AfPacketError,
    },
    #[error("DPDK: {0}")]
    Dpdk(fastlane_dpdk::DpdkError),
    #[error("port {port}: keeping {interface}'s frames from the kernel: {source}")]
    KernelView {
        port: PortId,
        interface: String,
        source: fastlane_xdp::SkbProgramError,
    },
    #[error("slow-path TAP device of port {port}: {source}")]
    Tap {
        port: PortId,
        source: fastlane_tap::TapError,
    },
    #[error(transparent)]
    Pipeline(#[from] fastlane_core::processor::PipelineError),
    #[error("data-plane thread for core {core}: {message}")]
    Thread { core: u16, message: String },
    #[error("the data plane is already running")]
    AlreadyRunning,
    /// `deployment.mode` is `device_plugin` and the plugin refused, or could not be reached.
    #[error(transparent)]
    DevicePlugin(#[from] fastlane_handoff::HandoffError),
    #[error("deployment.mode device_plugin: {0}")]
    Deployment(String),
}

/// A data plane built from one config; start and stop it as often as the backend allows (DPDK's
/// EAL initialises once per process).
#[derive(Debug)]
pub struct Dataplane {
    config: Config,
    factory: Arc<dyn ProcessorFactory + Send + Sync>,
    outboxes: Option<Arc<dyn TakeOutboxes>>,
    running: Option<Running>,
    /// The counters as they were when the data plane last stopped.
    last_stats: Option<Stats>,
}

/// What exists while the data plane runs. `shut_down` joins the threads before the backend's
/// ports close.
struct Running {
    /// Threads in the order they stop: each group's flag is set and its threads joined before
    /// the next group's.
    groups: Vec<(Arc<AtomicBool>, Vec<JoinHandle<()>>)>,
    failure: Arc<Mutex<Option<String>>>,
    queues: Vec<QueueHandle>,
    ports: Option<Ports>,
    kernel: Option<KernelSide>,
    stages: Vec<(usize, Arc<CountStats>)>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field(
                "threads",
                &self.groups.iter().map(|g| g.1.len()).sum::<usize>(),
            )
            .finish_non_exhaustive()
    }
}

impl Dataplane {
    /// Parses and checks a config document.
    pub fn from_json(text: &str) -> Result<Dataplane, RuntimeError> {
        Ok(Dataplane::new(Config::from_json(text)?))
    }

    pub fn new(config: Config) -> Dataplane {
        Dataplane::with_factory(config, Arc::new(BuiltinsOnly))
    }

    /// A data plane whose pipeline may hold stages `factory` makes (plugins, TypeScript).
    pub fn with_factory(
        config: Config,
        factory: Arc<dyn ProcessorFactory + Send + Sync>,
    ) -> Dataplane {
        Dataplane {
            config,
            factory,
            outboxes: None,
            running: None,
            last_stats: None,
        }
    }

    /// Lets the stages `factory` makes return frames after their batch has gone: the runtime
    /// takes from `outboxes` what the factory made for each thread's pipeline. Such stages run
    /// only in the run-to-completion model.
    pub fn with_outboxes(mut self, outboxes: Arc<dyn TakeOutboxes>) -> Dataplane {
        self.outboxes = Some(outboxes);
        self
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
        let (config, factory, outboxes) = (&self.config, &*self.factory, self.outboxes.as_deref());
        let built = netns::run_in(config.netns.as_deref(), || backend::build(config))??;
        let mut running = Running {
            groups: Vec::new(),
            failure: Arc::new(Mutex::new(None)),
            queues: built.queues,
            ports: Some(built.ports),
            kernel: Some(built.kernel),
            stages: Vec::new(),
        };
        let mut threads: Vec<(u16, usize, ThreadBody)> = Vec::new();
        match config.threads.model {
            ThreadModel::RunToCompletion => {
                let (group, stop) = running.new_group();
                for queues in built.threads {
                    let pipeline = Pipeline::build(&config.pipeline, factory)?;
                    // Asked right after building the thread's pipeline, as TakeOutboxes says.
                    let outboxes = outboxes.map(|o| o.take()).unwrap_or_default();
                    running.stages.extend(pipeline.counts.clone());
                    let core = queues.core;
                    let mut worker = Worker {
                        queues,
                        pipeline,
                        outboxes,
                    };
                    let stop = stop.clone();
                    threads.push((core, group, Box::new(move || worker.forward(&stop))));
                }
            }
            ThreadModel::MasterWorker => {
                // Workers stop first: they hold packets that live in the I/O threads' buffers.
                let (worker_group, worker_stop) = running.new_group();
                let (io_group, io_stop) = running.new_group();
                let ring = config.threads.worker_ring_size as usize;
                let links: Vec<Vec<Link>> = built
                    .threads
                    .iter()
                    .map(|_| {
                        config
                            .threads
                            .worker_cores
                            .iter()
                            .map(|_| Link::new(ring))
                            .collect()
                    })
                    .collect();
                // The I/O thread a worker sends its processors' own frames on a port through.
                let mut link_of_port = vec![None; config.ports.len()];
                for (io, queues) in built.threads.iter().enumerate() {
                    for q in queues.io.queues() {
                        link_of_port[usize::from(q.port)].get_or_insert(io);
                    }
                }
                for (w, &core) in config.threads.worker_cores.iter().enumerate() {
                    let pipeline = Pipeline::build(&config.pipeline, factory)?;
                    running.stages.extend(pipeline.counts.clone());
                    let links = links.iter().map(|of_io| of_io[w].clone()).collect();
                    let mut processing = ProcessingThread {
                        pipeline,
                        links,
                        link_of_port: link_of_port.clone(),
                    };
                    let stop = worker_stop.clone();
                    threads.push((
                        core,
                        worker_group,
                        Box::new(move || processing.forward(&stop)),
                    ));
                }
                for (queues, links) in built.threads.into_iter().zip(links) {
                    let mut io = IoThread::new(queues, links, ring);
                    let stop = io_stop.clone();
                    threads.push((io.core(), io_group, Box::new(move || io.forward(&stop))));
                }
            }
        }
        let (ready_tx, ready_rx) = mpsc::channel();
        let mut spawned = 0;
        for (core, group, body) in threads {
            let (failure, ready) = (running.failure.clone(), ready_tx.clone());
            let thread = std::thread::Builder::new()
                .name(format!("fastlane-core{core}"))
                .spawn(move || worker::run_pinned(core, ready, failure, body));
            match thread {
                Ok(handle) => {
                    running.groups[group].1.push(handle);
                    spawned += 1;
                }
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
        for _ in 0..spawned {
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
                    from_kernel_packets: c.from_kernel_packets.get(),
                    rx_batches: c.rx_batches.get(),
                    dropped: stats::drop_names(|r| c.dropped(r)),
                    socket: q.socket.read(),
                }
            })
            .collect();
        let ports = (0..self.config.ports.len())
            .map(|p| {
                let backend = running.ports.as_ref();
                let kernel = running.kernel.as_ref();
                PortStats {
                    port: p as PortId,
                    interface: interface(p as PortId),
                    xdp: backend.and_then(|b| b.xdp(p)),
                    device: backend.map(|b| b.device(p)).unwrap_or_default(),
                    tap: kernel.and_then(|k| k.tap_name(p)),
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
    /// A new stop group, stopped after those made before it; returns its index and flag.
    fn new_group(&mut self) -> (usize, Arc<AtomicBool>) {
        let stop = Arc::new(AtomicBool::new(false));
        self.groups.push((stop.clone(), Vec::new()));
        (self.groups.len() - 1, stop)
    }

    fn stop_threads(&mut self) {
        for (stop, threads) in &mut self.groups {
            stop.store(true, Ordering::Relaxed);
            for thread in threads.drain(..) {
                let _ = thread.join();
            }
        }
    }

    fn shut_down(&mut self) {
        self.stop_threads();
        // The TAP devices go first: their addresses return to the interfaces they came from.
        drop(self.kernel.take());
        if let Some(ports) = self.ports.take() {
            ports.close();
        }
    }
}
