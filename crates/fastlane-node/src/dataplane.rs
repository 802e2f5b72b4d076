//! `NativeDataplane`: the runtime's lifecycle and statistics.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use fastlane_core::config::ThreadModel;
use fastlane_plugin::host::PluginFactory;

use napi::bindgen_prelude::{ArrayBuffer, Function};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::Env;
use napi_derive::napi;

use crate::batch::{Arena, JsStages, Wake};
use crate::error::{self, BindingError};

#[napi]
#[derive(Debug)]
pub struct NativeDataplane {
    inner: fastlane_runtime::Dataplane,
    plugins: Arc<PluginFactory>,
    /// Makes the pipeline's `js` stages for the handler `on_batch` registers, and the others
    /// through `plugins`.
    js: Arc<JsStages>,
}

#[napi(object)]
#[derive(Debug)]
pub struct PluginStageStats {
    /// Index of the stage in the config's pipeline.
    pub stage: u32,
    pub plugin: String,
    /// The counters the plugin declares, summed over threads.
    pub counters: HashMap<String, f64>,
    /// Packets the plugin dropped for each of its own drop reasons, by name, summed over threads.
    pub drops: HashMap<String, f64>,
}

#[napi(object)]
#[derive(Debug)]
pub struct QueueStats {
    pub port: u32,
    pub interface: String,
    pub queue: u32,
    pub core: u32,
    /// AF_XDP socket bound in zero-copy mode.
    pub zero_copy: bool,
    pub rx_packets: f64,
    pub rx_bytes: f64,
    pub tx_packets: f64,
    pub tx_bytes: f64,
    /// Packets handed to the kernel's slow path.
    pub kernel_packets: f64,
    /// Packets the kernel's slow path sent out of this queue (through the TAP device).
    pub from_kernel_packets: f64,
    pub rx_batches: f64,
    /// Dropped packets by reason.
    pub dropped: HashMap<String, f64>,
    /// The kernel's counters of the queue's socket (AF_XDP: XDP_STATISTICS); empty for DPDK.
    pub socket: HashMap<String, f64>,
}

/// The XDP fast/slow split's counters on a port.
#[napi(object)]
#[derive(Debug)]
pub struct XdpPortStats {
    #[napi(ts_type = "'native' | 'generic'")]
    pub attach_mode: String,
    /// Packets the XDP program redirected to a socket.
    pub redirected: f64,
    /// Fast-path packets that found no socket on their queue.
    pub no_socket: f64,
    /// Packets passed to the kernel, by reason.
    pub passed: HashMap<String, f64>,
}

#[napi(object)]
#[derive(Debug)]
pub struct PortStats {
    pub port: u32,
    pub interface: String,
    /// The XDP split's counters, for backends that use one.
    pub xdp: Option<XdpPortStats>,
    /// The device's own counters (DPDK ethdev stats); empty otherwise.
    pub device: HashMap<String, f64>,
    /// The TAP device carrying the slow path, for backends that own the port.
    pub tap: Option<String>,
}

#[napi(object)]
#[derive(Debug)]
pub struct StageStats {
    /// Index of the `count` stage in the config's pipeline.
    pub stage: u32,
    pub packets: f64,
    pub bytes: f64,
}

#[napi(object)]
#[derive(Debug)]
pub struct DataplaneStats {
    pub queues: Vec<QueueStats>,
    pub ports: Vec<PortStats>,
    pub pipeline: Vec<StageStats>,
    pub plugins: Vec<PluginStageStats>,
}

fn named(counts: Vec<(&'static str, u64)>) -> HashMap<String, f64> {
    counts
        .into_iter()
        .map(|(name, n)| (name.to_string(), n as f64))
        .collect()
}

#[napi]
impl NativeDataplane {
    /// Parses and checks the config; throws listing every error with its JSON path. Relative
    /// plugin paths are resolved against `config_dir` (the config file's directory).
    #[napi(constructor)]
    pub fn new(config_json: String, config_dir: Option<String>) -> error::Result<Self> {
        let config = fastlane_core::Config::from_json(&config_json).map_err(BindingError::from)?;
        let plugins = Arc::new(PluginFactory::new(config_dir.map(PathBuf::from)));
        let js = Arc::new(JsStages::new(plugins.clone()));
        let inner =
            fastlane_runtime::Dataplane::with_factory(config, js.clone()).with_outboxes(js.clone());
        Ok(NativeDataplane { inner, plugins, js })
    }

    /// Registers the `js` stage's handler: allocates one arena per data-plane thread, with
    /// `slots` batches of `threads.batch_size` packets of up to `frame_size` bytes, and returns
    /// them, in thread order, as ArrayBuffers over that memory. `wake(arena)` is called, at most
    /// once until the arena's notify word is cleared, when batches wait there. Throws while
    /// running.
    #[napi]
    pub fn on_batch<'env>(
        &mut self,
        env: &'env Env,
        wake: Function<u32, ()>,
        slots: u32,
        frame_size: u32,
    ) -> error::Result<Vec<ArrayBuffer<'env>>> {
        let invalid = |message: String| BindingError::InvalidArgument(message).into();
        if self.inner.is_running() {
            return Err(invalid("onBatch() must be called before start()".into()));
        }
        let config = self.inner.config();
        if config.threads.model != ThreadModel::RunToCompletion {
            return Err(invalid(
                "js stages run with threads.model \"run_to_completion\" only".into(),
            ));
        }
        let threads: BTreeSet<u16> = config
            .ports
            .iter()
            .flat_map(|p| p.queues.iter().map(|q| q.core))
            .collect();
        let batch_size = config.threads.batch_size as u32;
        let arenas = (0..threads.len())
            .map(|_| Arena::new(slots, batch_size, frame_size).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(e.to_string()))?;
        let tsfn = wake
            .build_threadsafe_function::<u32>()
            .weak::<true>()
            .build()
            .map_err(error::napi_failure)?;
        let wake: Wake = Arc::new(move |arena| {
            // A failed call means JavaScript is shutting down: nobody is left to drain.
            let _ = tsfn.call(arena, ThreadsafeFunctionCallMode::NonBlocking);
        });
        let buffers = arenas
            .iter()
            .map(|arena| {
                // SAFETY: the memory stays valid while the ArrayBuffer lives, since its finalizer
                // owns an `Arc` to the arena; each arena backs exactly one ArrayBuffer.
                unsafe {
                    ArrayBuffer::from_external(
                        env,
                        arena.as_ptr(),
                        arena.len(),
                        arena.clone(),
                        |_, arena| drop(arena),
                    )
                }
            })
            .collect::<napi::Result<Vec<_>>>()
            .map_err(error::napi_failure)?;
        self.js.register(arenas, wake);
        Ok(buffers)
    }

    /// Plugin counters and drops by the plugin's reasons, by stage, summed over the threads'
    /// instances.
    fn plugin_stats(&self) -> Vec<PluginStageStats> {
        let mut stages: BTreeMap<usize, PluginStageStats> = BTreeMap::new();
        for instance in self.plugins.counters() {
            let entry = stages
                .entry(instance.stage)
                .or_insert_with(|| PluginStageStats {
                    stage: instance.stage as u32,
                    plugin: instance.plugin.clone(),
                    counters: HashMap::new(),
                    drops: HashMap::new(),
                });
            for (name, value) in instance.counters.values() {
                *entry.counters.entry(name.to_string()).or_default() += value as f64;
            }
            for (reason, value) in instance.counters.drops() {
                *entry.drops.entry(reason.to_string()).or_default() += value as f64;
            }
        }
        stages.into_values().collect()
    }

    /// Opens the sockets, attaches the XDP programs and starts the threads, or changes nothing
    /// and throws with the kernel's context.
    #[napi]
    pub fn start(&mut self) -> error::Result<()> {
        self.js.begin_start();
        self.plugins.begin_run();
        self.inner.start().map_err(BindingError::from)?;
        Ok(())
    }

    /// Stops the threads and detaches the XDP programs; a no-op when stopped.
    #[napi]
    pub fn stop(&mut self) {
        self.inner.stop();
    }

    /// Started, and no data-plane thread has failed since.
    #[napi(getter)]
    pub fn running(&self) -> bool {
        self.inner.is_running() && self.inner.failure().is_none()
    }

    /// The first failure of a data-plane thread since start, if any.
    #[napi]
    pub fn failure(&self) -> Option<String> {
        self.inner.failure()
    }

    /// Counters since start; once stopped, the final counters; `null` before the first start.
    #[napi]
    pub fn stats(&self) -> Option<DataplaneStats> {
        let stats = self.inner.stats()?;
        Some(DataplaneStats {
            queues: stats
                .queues
                .into_iter()
                .map(|q| QueueStats {
                    port: q.port.into(),
                    interface: q.interface,
                    queue: q.queue.into(),
                    core: q.core.into(),
                    zero_copy: q.zero_copy,
                    rx_packets: q.rx_packets as f64,
                    rx_bytes: q.rx_bytes as f64,
                    tx_packets: q.tx_packets as f64,
                    tx_bytes: q.tx_bytes as f64,
                    kernel_packets: q.kernel_packets as f64,
                    from_kernel_packets: q.from_kernel_packets as f64,
                    rx_batches: q.rx_batches as f64,
                    dropped: named(q.dropped),
                    socket: named(q.socket),
                })
                .collect(),
            ports: stats
                .ports
                .into_iter()
                .map(|p| PortStats {
                    port: p.port.into(),
                    interface: p.interface,
                    xdp: p.xdp.map(|x| XdpPortStats {
                        attach_mode: x.attach_mode.to_string(),
                        redirected: x.redirected as f64,
                        no_socket: x.no_socket as f64,
                        passed: named(x.passed),
                    }),
                    device: named(p.device),
                    tap: p.tap,
                })
                .collect(),
            pipeline: stats
                .pipeline
                .into_iter()
                .map(|s| StageStats {
                    stage: s.stage as u32,
                    packets: s.packets as f64,
                    bytes: s.bytes as f64,
                })
                .collect(),
            plugins: self.plugin_stats(),
        })
    }
}
