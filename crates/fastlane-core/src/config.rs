//! The config file, as Rust reads it. These types are the one definition of the document:
//! `config/fastlane.schema.json` is generated from them (`npm run generate`, which runs
//! `cargo run -p fastlane-core --features schema --example schema`), with their doc comments as
//! descriptions, their serde defaults as defaults and the `schemars` attributes as the bounds the
//! schema checks on its own; the TypeScript types are generated from that schema. Both sides reject
//! unknown keys and name every error by its JSON path (a JSON Pointer such as
//! `/ports/0/queues/1/core`). [`Config::check`] adds what a schema cannot say.

use serde::Deserialize;

use crate::verdict::PortId;

/// One file describes the packet I/O backend, the ports and queues, the fast-path filter and the
/// processor pipeline. Unknown keys are errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema, serde::Serialize))]
#[cfg_attr(
    feature = "schema",
    schemars(
        title = "Fastlane data-plane config",
        extend("$id" = "https://fastlane.dev/schema/fastlane.schema.json")
    )
)]
pub struct Config {
    /// Lets editors find the schema; ignored.
    #[serde(rename = "$schema", default)]
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    pub schema: Option<String>,
    /// A label for logs and metrics.
    #[serde(default)]
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    pub name: Option<String>,
    /// The packet I/O mechanism. Changing only this line moves the application between
    /// mechanisms; each has its own options section, ignored by the others.
    pub backend: BackendKind,
    /// Network namespace to open the ports in: a name under /run/netns or an absolute path.
    #[serde(default)]
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub netns: Option<String>,
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub ports: Vec<PortConfig>,
    #[serde(default)]
    pub filter: FilterConfig,
    #[serde(default)]
    pub af_xdp: AfXdpConfig,
    #[serde(default)]
    pub dpdk: DpdkConfig,
    #[serde(default)]
    pub af_packet: AfPacketConfig,
    #[serde(default)]
    pub threads: ThreadsConfig,
    #[serde(default)]
    pub deployment: DeploymentConfig,
    /// Processors run in order on each batch; a packet dropped or handed to the kernel is not seen
    /// by later ones, and a packet left without a verdict is dropped (reason no_verdict).
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub pipeline: Vec<ProcessorSpec>,
}

/// The packet I/O mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema, serde::Serialize))]
pub enum BackendKind {
    AfXdp,
    Dpdk,
    AfPacket,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema, serde::Serialize))]
pub struct PortConfig {
    /// The kernel's name of the interface.
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 15)))]
    pub interface: String,
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub queues: Vec<QueueConfig>,
    /// The kernel's view of the port: DPDK's TAP twin, or the punt TAP (`punt`) of af_xdp and
    /// af_packet, which takes its name, MAC and MTU from here but not its addresses.
    #[serde(default)]
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    pub tap: Option<TapConfig>,
    /// How a processor's `Kernel` verdict reaches the kernel on backends that leave the
    /// interface to it (af_xdp, af_packet with its BPF split). `"tap"`: through a TAP twin of
    /// the port (the port's MAC and MTU; the `tap` section's name, MAC and MTU if given, not its
    /// addresses, which stay on the interface), so the kernel answers as if the packet had
    /// arrived on the interface; what the kernel sends on the TAP goes out of the port. Without
    /// it such a verdict is a drop counted as `no_slow_path`. DPDK always has its TAP.
    #[serde(default)]
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    pub punt: Option<PuntPath>,
    // This port's own filter, in place of the top-level one (FilterConfig's doc says so: a
    // description here would make the generated TypeScript type a copy of FilterConfig).
    #[serde(default)]
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    pub filter: Option<FilterConfig>,
}

impl PortConfig {
    /// The filter that splits this port's traffic: its own, or else the config's.
    pub fn effective_filter<'a>(&'a self, config: &'a Config) -> &'a FilterConfig {
        self.filter.as_ref().unwrap_or(&config.filter)
    }
}

/// Where a port's `Kernel` verdicts go on a backend whose split is in the kernel; `tap`: a TAP
/// device that looks like the port to the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum PuntPath {
    Tap,
}

/// A TAP device that is the kernel's view of a port: packets for the kernel are written to it and
/// what the kernel sends on it goes out of the port. DPDK's slow path always has one; af_xdp and
/// af_packet have one when the port's `punt` is `"tap"`.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TapConfig {
    /// Device name; default `fl-` followed by the interface name, cut to 15 characters.
    #[serde(default)]
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    #[cfg_attr(feature = "schema", schemars(length(min = 1, max = 15)))]
    pub name: Option<String>,
    /// MAC address `aa:bb:cc:dd:ee:ff`; default the port's own.
    #[serde(default)]
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    #[cfg_attr(
        feature = "schema",
        schemars(
            regex(pattern = r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$"),
            // ajv-errors' message, as the native check words it.
            extend("errorMessage" = { "pattern": "${0} is not a MAC address (aa:bb:cc:dd:ee:ff)" })
        )
    )]
    pub mac: Option<String>,
    /// Addresses in CIDR notation (`10.0.0.2/24`, `fd00::2/64`).
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    #[cfg_attr(feature = "schema", schemars(range(min = 68, max = 65535)))]
    pub mtu: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema, serde::Serialize))]
pub struct QueueConfig {
    /// The interface's RX/TX queue index.
    pub id: u16,
    /// CPU the queue's thread is pinned to; queues on one core share one thread.
    pub core: u16,
}

/// What goes to the fast path; everything else goes to the kernel. The same meaning for every
/// backend. A frame is fast if it matches any one of the lists (an OR of them all); the lists
/// are looked at only in frames whose headers are sane (see `classify.rs` for the exact rules).
/// A port's own `filter` (`ports[].filter`) replaces the top-level one for that port.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct FilterConfig {
    /// UDP destination ports and inclusive ranges.
    #[serde(default)]
    pub udp_ports: Vec<PortMatch>,
    /// TCP destination ports and inclusive ranges.
    #[serde(default)]
    pub tcp_ports: Vec<PortMatch>,
    /// IPv4 protocol / IPv6 next-header numbers.
    #[serde(default)]
    pub ip_protocols: Vec<u8>,
    /// Outer EtherTypes (33024 = 0x8100 takes every VLAN-tagged frame).
    #[serde(default)]
    pub ether_types: Vec<u16>,
    /// Destination prefixes in CIDR notation (`10.45.0.0/16`, `2001:db8:1::/48`, `10.0.0.1/32`):
    /// an IPv4 or IPv6 packet whose destination address is inside one goes to the fast path,
    /// whatever its protocol. Host bits must be zero; at most 64 IPv4 and 64 IPv6 prefixes.
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<String>"))]
    pub dst_prefixes: Vec<DstPrefix>,
}

/// How many IPv4 and how many IPv6 destination prefixes one filter holds (`FL_PREFIXES_MAX` of
/// the BPF programs, which scan them with a bounded loop).
pub const PREFIXES_MAX: usize = 64;

/// A destination prefix of a filter: an address whose bits past `len` are zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DstPrefix {
    V4 { addr: std::net::Ipv4Addr, len: u8 },
    V6 { addr: std::net::Ipv6Addr, len: u8 },
}

impl std::str::FromStr for DstPrefix {
    type Err = String;

    fn from_str(text: &str) -> Result<DstPrefix, String> {
        let Some((addr, len)) = text.split_once('/') else {
            return Err(format!(
                "{text:?} is not a prefix (address/length, as 10.45.0.0/16 or 2001:db8::/32)"
            ));
        };
        let addr: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?}: {addr:?} is not an IPv4 or IPv6 address"))?;
        let bits: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let digits = len;
        let len: u8 = match digits.parse() {
            Ok(len) if len <= bits && digits.bytes().all(|b| b.is_ascii_digit()) => len,
            _ => {
                return Err(format!(
                    "{text:?}: prefix length {digits:?} is not a number from 0 to {bits}"
                ))
            }
        };
        let prefix = match addr {
            std::net::IpAddr::V4(addr) => DstPrefix::V4 { addr, len },
            std::net::IpAddr::V6(addr) => DstPrefix::V6 { addr, len },
        };
        let network = prefix.network();
        if network != prefix {
            return Err(format!(
                "{text:?} has host bits set (the prefix is {network})"
            ));
        }
        Ok(prefix)
    }
}

impl DstPrefix {
    /// The prefix with its host bits cleared.
    fn network(self) -> DstPrefix {
        match self {
            DstPrefix::V4 { addr, len } => DstPrefix::V4 {
                addr: (u32::from(addr) & prefix_mask_v4(len)).into(),
                len,
            },
            DstPrefix::V6 { addr, len } => DstPrefix::V6 {
                addr: (u128::from(addr) & prefix_mask_v6(len)).into(),
                len,
            },
        }
    }
}

/// The netmask of a prefix length, as a host-order number whose top `len` bits are set.
pub fn prefix_mask_v4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

/// The IPv6 netmask of a prefix length, top `len` bits set.
pub fn prefix_mask_v6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

impl std::fmt::Display for DstPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DstPrefix::V4 { addr, len } => write!(f, "{addr}/{len}"),
            DstPrefix::V6 { addr, len } => write!(f, "{addr}/{len}"),
        }
    }
}

impl<'de> Deserialize<'de> for DstPrefix {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DstPrefix, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for DstPrefix {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A destination port, or an inclusive range of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(untagged, deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum PortMatch {
    One(u16),
    Range { from: u16, to: u16 },
}

/// `auto`: zero-copy where the driver supports it, copy otherwise (and say so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum BindMode {
    #[default]
    Auto,
    Copy,
    ZeroCopy,
}

/// `auto`: native (driver) XDP where supported, generic (skb) otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum AttachMode {
    #[default]
    Auto,
    Native,
    Generic,
}

/// The `af_xdp` backend's options. Ring and UMEM sizes are powers of two.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AfXdpConfig {
    pub bind_mode: BindMode,
    pub attach_mode: AttachMode,
    pub need_wakeup: bool,
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    pub busy_poll: Option<BusyPollConfig>,
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 1_048_576)))]
    pub rx_ring_size: u32,
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 1_048_576)))]
    pub tx_ring_size: u32,
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 1_048_576)))]
    pub fill_ring_size: u32,
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 1_048_576)))]
    pub completion_ring_size: u32,
    /// Bytes per UMEM frame: 2048 or 4096.
    #[cfg_attr(feature = "schema", schemars(extend("enum" = [2048, 4096])))]
    pub frame_size: u32,
    /// UMEM frames per thread, shared by the sockets that thread serves.
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 1_048_576)))]
    pub umem_frames: u32,
    /// Bytes reserved in front of each received packet for headers a processor prepends.
    #[cfg_attr(feature = "schema", schemars(range(max = 2048)))]
    pub frame_headroom: u32,
}

impl Default for AfXdpConfig {
    fn default() -> Self {
        AfXdpConfig {
            bind_mode: BindMode::Auto,
            attach_mode: AttachMode::Auto,
            need_wakeup: true,
            busy_poll: None,
            rx_ring_size: 2048,
            tx_ring_size: 2048,
            fill_ring_size: 4096,
            completion_ring_size: 2048,
            frame_size: 4096,
            umem_frames: 8192,
            frame_headroom: 0,
        }
    }
}

/// The `dpdk` backend's options (the EAL's and the ports').
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema, serde::Serialize))]
pub struct DpdkConfig {
    /// The DPDK device of each port, keyed by the port's `interface`: a PCI address
    /// (`0000:3b:00.0`) or a vdev string (`net_af_xdp0,iface=eth0`).
    #[cfg_attr(feature = "schema", schemars(extend("additionalProperties" = { "type": "string", "minLength": 1 })))]
    pub devices: std::collections::BTreeMap<String, String>,
    /// EAL memory in MiB.
    #[cfg_attr(feature = "schema", schemars(range(min = 64)))]
    pub memory_mb: u32,
    /// Back memory with hugepages (`false` passes `--no-huge`).
    pub huge_pages: bool,
    /// hugetlbfs mount to use; default: EAL's choice.
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    pub huge_dir: Option<String>,
    /// `--in-memory`: no files left in hugetlbfs or /var/run.
    pub in_memory: bool,
    /// `--file-prefix`, so that several instances coexist; default `fastlane-<pid>`.
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub file_prefix: Option<String>,
    #[cfg_attr(feature = "schema", schemars(range(min = 1024)))]
    pub mbufs: u32,
    #[cfg_attr(feature = "schema", schemars(range(max = 512)))]
    pub mbuf_cache: u32,
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 32768)))]
    pub rx_ring_size: u16,
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 32768)))]
    pub tx_ring_size: u16,
    /// Extra EAL arguments, passed last.
    pub eal_args: Vec<String>,
}

impl Default for DpdkConfig {
    fn default() -> Self {
        DpdkConfig {
            devices: Default::default(),
            memory_mb: 512,
            huge_pages: true,
            huge_dir: None,
            in_memory: true,
            file_prefix: None,
            mbufs: 16384,
            mbuf_cache: 256,
            rx_ring_size: 1024,
            tx_ring_size: 1024,
            eal_args: Vec::new(),
        }
    }
}

/// How PACKET_FANOUT spreads a port's packets over its queues; `hash`: by flow hash, which keeps
/// each flow on one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum FanoutMode {
    #[default]
    Hash,
    Cpu,
    LoadBalance,
    QueueMapping,
}

/// The `af_packet` backend's options.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AfPacketConfig {
    /// TPACKET_V3 block size in bytes (a power of two, at least a page).
    #[cfg_attr(feature = "schema", schemars(range(min = 4096)))]
    pub block_size: u32,
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub block_count: u32,
    /// Largest frame the ring holds.
    #[cfg_attr(feature = "schema", schemars(range(min = 128)))]
    pub frame_size: u32,
    /// How long the kernel waits before handing over a partly filled block.
    pub block_timeout_ms: u32,
    pub fanout: FanoutMode,
    /// Keep the kernel stack from also handling fast-path packets (a tc ingress filter that drops
    /// them after AF_PACKET has seen them).
    pub suppress_kernel: bool,
    /// Bytes of room in front of each received frame for headers a processor prepends; the ring's
    /// own header gives about 80 whatever this says, more costs ring space per frame.
    #[cfg_attr(feature = "schema", schemars(range(max = 1024)))]
    pub headroom: u32,
}

impl Default for AfPacketConfig {
    fn default() -> Self {
        AfPacketConfig {
            block_size: 1 << 18,
            block_count: 64,
            frame_size: 2048,
            block_timeout_ms: 1,
            fanout: FanoutMode::Hash,
            suppress_kernel: true,
            headroom: 256,
        }
    }
}

/// Present: busy-poll the sockets (SO_BUSY_POLL; SO_PREFER_BUSY_POLL and SO_BUSY_POLL_BUDGET need
/// CAP_NET_ADMIN).
#[derive(Debug, Clone, Copy, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct BusyPollConfig {
    /// SO_BUSY_POLL, in microseconds.
    #[serde(default = "BusyPollConfig::default_timeout_us")]
    pub timeout_us: u32,
    /// SO_BUSY_POLL_BUDGET: packets per busy-poll round.
    #[serde(default = "BusyPollConfig::default_budget")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1)))]
    pub budget: u16,
    /// SO_PREFER_BUSY_POLL.
    #[serde(default = "BusyPollConfig::default_prefer")]
    pub prefer: bool,
}

impl BusyPollConfig {
    fn default_timeout_us() -> u32 {
        20
    }
    fn default_budget() -> u16 {
        64
    }
    fn default_prefer() -> bool {
        true
    }
}

/// `run_to_completion`: each queue's thread receives, processes and transmits its own queues'
/// packets. `master_worker`: I/O threads (one per queue core) hand batches to worker threads
/// chosen by flow hash, and transmit what comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema, serde::Serialize))]
pub enum ThreadModel {
    #[default]
    RunToCompletion,
    MasterWorker,
}

/// How the data-plane threads are arranged.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema, serde::Serialize))]
pub struct ThreadsConfig {
    pub model: ThreadModel,
    /// Packets per receive burst.
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 1024)))]
    pub batch_size: u16,
    /// master_worker: the cores of the worker threads.
    pub worker_cores: Vec<u16>,
    /// master_worker: batches each I/O-to-worker ring holds (a power of two).
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 65536)))]
    pub worker_ring_size: u32,
}

impl Default for ThreadsConfig {
    fn default() -> Self {
        ThreadsConfig {
            model: ThreadModel::RunToCompletion,
            batch_size: 64,
            worker_cores: Vec::new(),
            worker_ring_size: 256,
        }
    }
}

/// Who creates the ports' descriptors. `standalone`: this process does (it needs CAP_NET_RAW,
/// CAP_NET_ADMIN, CAP_BPF or root). `device_plugin`: Fastlane's Kubernetes device plugin does,
/// and hands them over a Unix socket, so the process needs no capability at all (af_xdp and
/// af_packet only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum DeploymentMode {
    #[default]
    Standalone,
    DevicePlugin,
}

/// How the data plane gets its descriptors (see `mode`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema, serde::Serialize))]
pub struct DeploymentConfig {
    pub mode: DeploymentMode,
    /// device_plugin: the plugin's handoff socket; default the environment's
    /// `FASTLANE_DEVICE_PLUGIN_SOCKET`, which the plugin's Allocate sets.
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub socket: Option<String>,
    /// device_plugin: the allocation's one-time token; default the environment's
    /// `FASTLANE_TOKEN`.
    #[cfg_attr(feature = "schema", serde(skip_serializing_if = "Option::is_none"))]
    #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
    pub token: Option<String>,
}

/// One stage of the processor chain: a bare name (`"macswap"`) or an object with a `type`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema, serde::Serialize))]
pub enum ProcessorSpec {
    Name(SimpleProcessor),
    Object(ProcessorObject),
}

/// Processors that take no options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema, serde::Serialize))]
pub enum SimpleProcessor {
    Macswap,
    Drop,
    Count,
}

/// A processor as an object, told apart by its `type`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema, serde::Serialize))]
// ajv checks only the branch the `type` names, so an error is explained by that branch alone.
#[cfg_attr(
    feature = "schema",
    schemars(extend("type" = "object", "discriminator" = { "propertyName": "type" }))
)]
pub enum ProcessorObject {
    Macswap,
    Drop,
    Count,
    /// Forwards each port's packets out of its peer, both ways; ports are indexes into `ports`.
    L2fwd {
        #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
        pairs: Vec<[PortId; 2]>,
    },
    /// A processor compiled as a Rust plugin (a `cdylib` using the `fastlane-plugin` crate); its
    /// `config`, any JSON, is handed to the plugin's constructor.
    Plugin {
        /// The plugin's shared library; relative paths are relative to the config file.
        #[cfg_attr(feature = "schema", schemars(length(min = 1)))]
        path: String,
        // No doc comment: a description would make the generated TypeScript type an object.
        #[serde(default)]
        #[cfg_attr(
            feature = "schema",
            serde(skip_serializing_if = "serde_json::Value::is_null")
        )]
        config: serde_json::Value,
    },
    /// The TypeScript handler registered with `dataplane.onBatch()`.
    Js,
}

/// A config error, named by its JSON path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// JSON Pointer to the offending value (`""` for the whole document).
    pub path: String,
    pub message: String,
}

/// Every error found in a config; empty means valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid config:\n{}", .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl Config {
    /// Parses and checks a config document; a config that passes can start.
    pub fn from_json(text: &str) -> Result<Config, ConfigErrors> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                path: pointer_from_serde_path(&e.path().to_string()),
                message: e.inner().to_string(),
            }])
        })?;
        config.check(&SystemFacts::read())?;
        Ok(config)
    }

    /// Checks what the types cannot: ranges, references between fields, and that the cores,
    /// devices and hugepages the config names exist on this system.
    pub fn check(&self, system: &SystemFacts) -> Result<(), ConfigErrors> {
        let cpus = &system.cpus[..];
        let mut errors = Vec::new();
        let mut err = |path: String, message: String| errors.push(ConfigError { path, message });
        if self.ports.is_empty() {
            err("/ports".into(), "at least one port is required".into());
        }
        for (p, port) in self.ports.iter().enumerate() {
            if port.interface.is_empty() || port.interface.len() >= libc::IFNAMSIZ {
                err(
                    format!("/ports/{p}/interface"),
                    format!(
                        "an interface name has 1 to {} characters",
                        libc::IFNAMSIZ - 1
                    ),
                );
            }
            if port.queues.is_empty() {
                err(
                    format!("/ports/{p}/queues"),
                    "at least one queue is required".into(),
                );
            }
            for (q, queue) in port.queues.iter().enumerate() {
                if !cpus.contains(&queue.core) {
                    err(
                        format!("/ports/{p}/queues/{q}/core"),
                        format!(
                            "core {} does not exist here (usable: {})",
                            queue.core,
                            list(cpus)
                        ),
                    );
                }
                if port.queues[..q].iter().any(|o| o.id == queue.id) {
                    err(
                        format!("/ports/{p}/queues/{q}/id"),
                        format!("queue {} twice", queue.id),
                    );
                }
            }
            if let Some(first) = self.ports[..p]
                .iter()
                .position(|o| o.interface == port.interface)
            {
                err(
                    format!("/ports/{p}/interface"),
                    format!(
                        "interface {} is already port {first} (/ports/{first}/interface)",
                        port.interface
                    ),
                );
            }
        }
        let filters = std::iter::once(("/filter".to_string(), &self.filter)).chain(
            self.ports.iter().enumerate().filter_map(|(p, port)| {
                port.filter
                    .as_ref()
                    .map(|f| (format!("/ports/{p}/filter"), f))
            }),
        );
        for (at, filter) in filters {
            filter.check_into(&at, &mut err);
        }
        self.af_xdp.check_into(&mut err);
        let t = &self.threads;
        match t.model {
            ThreadModel::RunToCompletion if !t.worker_cores.is_empty() => err(
                "/threads/worker_cores".into(),
                "worker cores need the master_worker model".into(),
            ),
            ThreadModel::MasterWorker if t.worker_cores.is_empty() => err(
                "/threads/worker_cores".into(),
                "master_worker needs at least one worker core".into(),
            ),
            _ => {}
        }
        for (i, core) in t.worker_cores.iter().enumerate() {
            if !cpus.contains(core) {
                err(
                    format!("/threads/worker_cores/{i}"),
                    format!("core {core} does not exist here (usable: {})", list(cpus)),
                );
            }
        }
        if !t.worker_ring_size.is_power_of_two() {
            err(
                "/threads/worker_ring_size".into(),
                format!("{} is not a power of two", t.worker_ring_size),
            );
        }
        let batch = self.threads.batch_size;
        if !(1..=1024).contains(&batch) {
            err(
                "/threads/batch_size".into(),
                format!("{batch} is not within 1..=1024"),
            );
        }
        if self.pipeline.is_empty() {
            err(
                "/pipeline".into(),
                "at least one processor is required".into(),
            );
        }
        for (i, spec) in self.pipeline.iter().enumerate() {
            if let ProcessorSpec::Object(ProcessorObject::L2fwd { pairs }) = spec {
                for (j, pair) in pairs.iter().enumerate() {
                    for (k, port) in pair.iter().enumerate() {
                        if *port as usize >= self.ports.len() {
                            err(
                                format!("/pipeline/{i}/pairs/{j}/{k}"),
                                format!("port {port} does not exist ({} ports)", self.ports.len()),
                            );
                        }
                    }
                    if pair[0] == pair[1] {
                        err(
                            format!("/pipeline/{i}/pairs/{j}"),
                            "a port paired with itself".into(),
                        );
                    }
                }
            }
        }
        for (p, port) in self.ports.iter().enumerate() {
            if let Some(tap) = &port.tap {
                check_tap(tap, &format!("/ports/{p}/tap"), &mut err);
            }
        }
        if self.backend == BackendKind::Dpdk {
            self.check_dpdk(system, &mut err);
        }
        if self.deployment.mode == DeploymentMode::DevicePlugin {
            if self.backend == BackendKind::Dpdk {
                err(
                    "/deployment/mode".into(),
                    "the device plugin hands over af_xdp and af_packet ports; a dpdk data plane \
                     runs standalone"
                        .into(),
                );
            }
            if self.netns.is_some() {
                err(
                    "/netns".into(),
                    "the device plugin creates the ports in this process's own network \
                     namespace; leave netns out"
                        .into(),
                );
            }
        }
        self.af_packet.check_into(&mut err);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errors))
        }
    }

    fn check_dpdk(&self, system: &SystemFacts, err: &mut impl FnMut(String, String)) {
        let d = &self.dpdk;
        for (p, port) in self.ports.iter().enumerate() {
            if !d.devices.contains_key(&port.interface) {
                err(
                    "/dpdk/devices".into(),
                    format!(
                        "no device for port {p} (\"{}\"): add \"{}\": \"<PCI address or vdev>\"",
                        port.interface, port.interface
                    ),
                );
            }
        }
        for (interface, device) in &d.devices {
            let path = format!(
                "/dpdk/devices/{}",
                interface.replace('~', "~0").replace('/', "~1")
            );
            if !self.ports.iter().any(|p| &p.interface == interface) {
                err(
                    path.clone(),
                    format!("no port has interface \"{interface}\""),
                );
            }
            if let Some(pci) = pci_address(device) {
                if !system.pci_devices.iter().any(|d| d == &pci) {
                    err(
                        path,
                        format!("PCI device {pci} does not exist on this system"),
                    );
                }
            } else if !device.starts_with("net_") {
                err(
                    path,
                    format!("\"{device}\" is neither a PCI address nor a vdev (net_...)"),
                );
            }
        }
        if d.huge_pages && system.free_hugepage_mb < d.memory_mb as u64 {
            err(
                "/dpdk/huge_pages".into(),
                format!(
                    "{} MiB of hugepages needed, {} MiB free: reserve more (echo N > /proc/sys/vm/nr_hugepages) or set huge_pages to false",
                    d.memory_mb, system.free_hugepage_mb
                ),
            );
        }
        if d.memory_mb < 64 {
            err("/dpdk/memory_mb".into(), "at least 64 MiB".into());
        }
        if d.mbufs < 1024 {
            err("/dpdk/mbufs".into(), "at least 1024 mbufs".into());
        }
        for (name, size) in [
            ("rx_ring_size", d.rx_ring_size),
            ("tx_ring_size", d.tx_ring_size),
        ] {
            if !size.is_power_of_two() {
                err(
                    format!("/dpdk/{name}"),
                    format!("{size} is not a power of two"),
                );
            }
        }
    }
}

/// Collects what `check_into` finds.
fn collect(check: impl FnOnce(&mut dyn FnMut(String, String))) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    check(&mut |path, message| errors.push(ConfigError { path, message }));
    errors
}

impl FilterConfig {
    /// What [`Config::check`] finds wrong with this filter, at JSON path `at`.
    pub fn check_at(&self, at: &str) -> Vec<ConfigError> {
        collect(|err| self.check_into(at, err))
    }

    fn check_into(&self, at: &str, err: &mut dyn FnMut(String, String)) {
        let filter = self;
        for (kind, ports) in [
            ("udp_ports", &filter.udp_ports),
            ("tcp_ports", &filter.tcp_ports),
        ] {
            for (i, m) in ports.iter().enumerate() {
                if let PortMatch::Range { from, to } = m {
                    if from > to {
                        err(
                            format!("{at}/{kind}/{i}"),
                            format!("range from {from} to {to} is empty"),
                        );
                    }
                }
            }
        }
        let v4 = filter
            .dst_prefixes
            .iter()
            .filter(|p| matches!(p, DstPrefix::V4 { .. }))
            .count();
        for (family, n) in [("IPv4", v4), ("IPv6", filter.dst_prefixes.len() - v4)] {
            if n > PREFIXES_MAX {
                err(
                    format!("{at}/dst_prefixes"),
                    format!("{n} {family} prefixes; a filter holds at most {PREFIXES_MAX}"),
                );
            }
        }
    }
}

impl AfXdpConfig {
    /// What [`Config::check`] finds wrong with the `af_xdp` section (paths `/af_xdp/...`).
    pub fn check(&self) -> Vec<ConfigError> {
        collect(|err| self.check_into(err))
    }

    fn check_into(&self, err: &mut dyn FnMut(String, String)) {
        let x = self;
        for (name, value) in [
            ("rx_ring_size", x.rx_ring_size),
            ("tx_ring_size", x.tx_ring_size),
            ("fill_ring_size", x.fill_ring_size),
            ("completion_ring_size", x.completion_ring_size),
            ("umem_frames", x.umem_frames),
        ] {
            if !value.is_power_of_two() {
                err(
                    format!("/af_xdp/{name}"),
                    format!("{value} is not a power of two"),
                );
            }
        }
        if !matches!(x.frame_size, 2048 | 4096) {
            err(
                "/af_xdp/frame_size".into(),
                "a UMEM frame is 2048 or 4096 bytes".into(),
            );
        }
        if x.frame_headroom > x.frame_size / 2 {
            err(
                "/af_xdp/frame_headroom".into(),
                "headroom exceeds half a frame".into(),
            );
        }
    }
}

impl AfPacketConfig {
    /// What [`Config::check`] finds wrong with the `af_packet` section (paths `/af_packet/...`).
    pub fn check(&self) -> Vec<ConfigError> {
        collect(|err| self.check_into(err))
    }

    fn check_into(&self, err: &mut dyn FnMut(String, String)) {
        let ap = self;
        if !ap.block_size.is_power_of_two() || ap.block_size < 4096 {
            err(
                "/af_packet/block_size".into(),
                "a power of two of at least 4096".into(),
            );
        }
        if ap.frame_size < 128 || !ap.frame_size.is_multiple_of(16) || ap.frame_size > ap.block_size
        {
            err(
                "/af_packet/frame_size".into(),
                "a multiple of 16, at least 128 and at most block_size".into(),
            );
        }
        if ap.block_count == 0 {
            err("/af_packet/block_count".into(), "at least one block".into());
        }
        if ap.headroom > 1024 || ap.headroom >= ap.frame_size {
            err(
                "/af_packet/headroom".into(),
                "at most 1024 bytes, and less than frame_size".into(),
            );
        }
    }
}

impl TapConfig {
    /// What [`Config::check`] finds wrong with this TAP section, at JSON path `at`.
    pub fn check_at(&self, at: &str) -> Vec<ConfigError> {
        collect(|err| check_tap(self, at, err))
    }
}

fn check_tap(tap: &TapConfig, at: &str, err: &mut dyn FnMut(String, String)) {
    if let Some(name) = &tap.name {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            err(
                format!("{at}/name"),
                format!("a device name has 1 to {} characters", libc::IFNAMSIZ - 1),
            );
        }
    }
    if let Some(mac) = &tap.mac {
        if parse_mac(mac).is_none() {
            err(
                format!("{at}/mac"),
                format!("\"{mac}\" is not a MAC address (aa:bb:cc:dd:ee:ff)"),
            );
        }
    }
    for (i, address) in tap.addresses.iter().enumerate() {
        if parse_cidr(address).is_none() {
            err(
                format!("{at}/addresses/{i}"),
                format!("\"{address}\" is not an address/prefix"),
            );
        }
    }
    if let Some(mtu) = tap.mtu {
        if !(68..=65535).contains(&mtu) {
            err(
                format!("{at}/mtu"),
                format!("{mtu} is not within 68..=65535"),
            );
        }
    }
}

/// `aa:bb:cc:dd:ee:ff` → bytes.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| {
            if b.len() == 2 {
                u8::from_str_radix(b, 16).ok()
            } else {
                None
            }
        })
        .collect::<Option<_>>()?;
    bytes.try_into().ok()
}

/// `10.0.0.2/24` or `fd00::2/64` → address and prefix length.
pub fn parse_cidr(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, len) = text.split_once('/')?;
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let len: u8 = len.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((addr, len))
}

/// A PCI address in DPDK's forms (`0000:3b:00.0` or `3b:00.0`), normalised with its domain.
fn pci_address(device: &str) -> Option<String> {
    let id = device.split(',').next()?;
    let full = if id.matches(':').count() == 1 {
        format!("0000:{id}")
    } else {
        id.to_string()
    };
    let ok = full.len() == 12
        && full.char_indices().all(|(i, c)| match i {
            4 | 7 => c == ':',
            10 => c == '.',
            _ => c.is_ascii_hexdigit(),
        });
    ok.then(|| full.to_ascii_lowercase())
}

/// What the config check needs to know about this machine.
#[derive(Debug, Clone, Default)]
pub struct SystemFacts {
    /// CPUs this process may run on.
    pub cpus: Vec<u16>,
    /// Free hugepage memory of the default size.
    pub free_hugepage_mb: u64,
    /// PCI addresses present (`0000:3b:00.0`).
    pub pci_devices: Vec<String>,
}

impl SystemFacts {
    pub fn read() -> SystemFacts {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |name: &str| {
            meminfo
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let free_hugepage_mb = field("HugePages_Free:") * field("Hugepagesize:") / 1024;
        let pci_devices = std::fs::read_dir("/sys/bus/pci/devices")
            .map(|dir| {
                dir.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        SystemFacts {
            cpus: online_cpus().to_vec(),
            free_hugepage_mb,
            pci_devices,
        }
    }
}

fn list(cpus: &[u16]) -> String {
    cpus.iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The CPUs a data-plane thread of this process may be pinned to: those of its cgroup's cpuset
/// (what a container is given), else the online CPUs. Not the calling thread's affinity mask: a
/// control plane kept off the data-plane cores (`taskset -c 0`) may still pin threads to them.
pub fn online_cpus() -> &'static [u16] {
    static CPUS: std::sync::OnceLock<Vec<u16>> = std::sync::OnceLock::new();
    CPUS.get_or_init(|| {
        // cgroup v2 (`0::/path`), then v1's cpuset hierarchy (`N:cpuset:/path`).
        let cgroup = std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|text| {
                let v2 = text
                    .lines()
                    .find_map(|l| l.strip_prefix("0::"))
                    .and_then(|path| {
                        std::fs::read_to_string(format!(
                            "/sys/fs/cgroup{path}/cpuset.cpus.effective"
                        ))
                        .ok()
                    });
                v2.or_else(|| {
                    let path = text
                        .lines()
                        .find_map(|l| l.split_once(":cpuset:").map(|(_, p)| p))?;
                    let file = format!("/sys/fs/cgroup/cpuset{path}/cpuset.effective_cpus");
                    std::fs::read_to_string(file).ok()
                })
            });
        cgroup
            .or_else(|| std::fs::read_to_string("/sys/devices/system/cpu/online").ok())
            .and_then(|list| parse_cpu_list(&list))
            .unwrap_or_else(|| {
                (0..std::thread::available_parallelism().map_or(1, |n| n.get() as u16)).collect()
            })
    })
}

/// The kernel's CPU list format: `0-3,8,10-11`; `None` when malformed or empty.
fn parse_cpu_list(text: &str) -> Option<Vec<u16>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (from, to) = part.split_once('-').unwrap_or((part, part));
        let (from, to): (u16, u16) = (from.parse().ok()?, to.parse().ok()?);
        if from > to {
            return None;
        }
        cpus.extend(from..=to);
    }
    (!cpus.is_empty()).then_some(cpus)
}

/// `ports[0].queues[1].core` → `/ports/0/queues/1/core`.
fn pointer_from_serde_path(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    let mut out = String::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            out.push('/');
            out.push_str(&key.replace('~', "~0").replace('/', "~1"));
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(idx.trim_end_matches(']'));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{
        "backend": "af_xdp",
        "ports": [{ "interface": "veth0", "queues": [{ "id": 0, "core": 0 }] }],
        "filter": { "udp_ports": [2152, { "from": 5000, "to": 5010 }] },
        "pipeline": ["count", { "type": "macswap" }]
    }"#;

    fn errors(text: &str) -> Vec<ConfigError> {
        Config::from_json(text).unwrap_err().0
    }

    #[test]
    fn a_minimal_config_parses_with_defaults() {
        let c = Config::from_json(MINIMAL).unwrap();
        assert_eq!(c.af_xdp.umem_frames, 8192);
        assert_eq!(c.threads.batch_size, 64);
        assert_eq!(
            c.filter.udp_ports[1],
            PortMatch::Range {
                from: 5000,
                to: 5010
            }
        );
        assert_eq!(c.pipeline[0], ProcessorSpec::Name(SimpleProcessor::Count));
    }

    #[test]
    fn device_plugin_mode_is_for_af_xdp_and_af_packet_in_the_process_own_namespace() {
        let facts = SystemFacts {
            cpus: vec![0],
            ..Default::default()
        };
        let with = |extra: &str| -> Config {
            serde_json::from_str(&MINIMAL.replace(
                r#""backend": "af_xdp","#,
                &format!(r#""backend": "af_xdp", {extra}"#),
            ))
            .unwrap()
        };
        let c = with(
            r#""deployment": { "mode": "device_plugin", "socket": "/run/fastlane/handoff.sock" },"#,
        );
        assert_eq!(c.deployment.mode, DeploymentMode::DevicePlugin);
        assert_eq!(
            c.deployment.socket.as_deref(),
            Some("/run/fastlane/handoff.sock")
        );
        c.check(&facts).unwrap();
        assert_eq!(
            Config::from_json(MINIMAL).unwrap().deployment.mode,
            DeploymentMode::Standalone
        );
        let c = with(r#""deployment": { "mode": "device_plugin" }, "netns": "elsewhere","#);
        let e = c.check(&facts).unwrap_err().0;
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].path, "/netns");
        let mut c = with(r#""deployment": { "mode": "device_plugin" },"#);
        c.backend = BackendKind::Dpdk;
        c.dpdk.devices.insert("veth0".into(), "net_null0".into());
        c.dpdk.huge_pages = false;
        let e = c.check(&facts).unwrap_err().0;
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].path, "/deployment/mode");
        assert!(e[0].message.contains("runs standalone"), "{e:?}");
        let e = errors(&MINIMAL.replace(
            r#""backend": "af_xdp","#,
            r#""backend": "af_xdp", "deployment": { "mode": "kubernetes" },"#,
        ));
        assert_eq!(e[0].path, "/deployment/mode", "{e:?}");
    }

    #[test]
    fn a_port_filter_replaces_the_top_level_one_for_that_port_only() {
        let text = MINIMAL.replace(
            r#""queues": [{ "id": 0, "core": 0 }] }"#,
            r#""queues": [{ "id": 0, "core": 0 }],
                 "filter": { "dst_prefixes": ["10.45.0.0/16", "2001:db8:1::/48", "::/0"] } },
               { "interface": "veth1", "queues": [{ "id": 0, "core": 0 }] }"#,
        );
        let c = Config::from_json(&text).unwrap();
        let own = c.ports[0].effective_filter(&c);
        assert!(own.udp_ports.is_empty());
        assert_eq!(
            own.dst_prefixes
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>(),
            ["10.45.0.0/16", "2001:db8:1::/48", "::/0"]
        );
        assert_eq!(c.ports[1].effective_filter(&c).udp_ports.len(), 2);
    }

    #[test]
    fn a_bad_prefix_is_named_by_its_path_and_says_what_is_wrong() {
        for (prefix, says) in [
            ("10.45.0.1/16", "host bits set (the prefix is 10.45.0.0/16)"),
            (
                "2001:db8:1::1/48",
                "host bits set (the prefix is 2001:db8:1::/48)",
            ),
            (
                "10.45.0.0/33",
                "prefix length \"33\" is not a number from 0 to 32",
            ),
            (
                "2001:db8::/129",
                "prefix length \"129\" is not a number from 0 to 128",
            ),
            ("10.45.0.0/+8", "prefix length \"+8\""),
            ("10.45.0.0", "is not a prefix (address/length"),
            ("10.45.0/16", "\"10.45.0\" is not an IPv4 or IPv6 address"),
        ] {
            let text = MINIMAL.replace(
                r#""udp_ports": [2152,"#,
                &format!(r#""dst_prefixes": ["10.0.0.0/8", "{prefix}"], "udp_ports": [2152,"#),
            );
            let e = errors(&text);
            assert_eq!(e.len(), 1, "{prefix}: {e:?}");
            assert_eq!(e[0].path, "/filter/dst_prefixes/1", "{prefix}");
            assert!(e[0].message.contains(says), "{prefix}: {}", e[0].message);
        }
        let text = MINIMAL.replace(
            r#""queues": [{ "id": 0, "core": 0 }] }"#,
            r#""queues": [{ "id": 0, "core": 0 }], "filter": { "dst_prefixes": ["fe80::1/10"] } }"#,
        );
        assert_eq!(errors(&text)[0].path, "/ports/0/filter/dst_prefixes/0");
    }

    #[test]
    fn more_prefixes_than_a_filter_holds_are_refused_per_family() {
        let v4: Vec<String> = (0..=PREFIXES_MAX)
            .map(|i| format!("\"10.{i}.0.0/16\""))
            .collect();
        let v6: Vec<String> = (0..PREFIXES_MAX)
            .map(|i| format!("\"2001:db8:{i:x}::/48\""))
            .collect();
        let text = MINIMAL.replace(
            r#""queues": [{ "id": 0, "core": 0 }] }"#,
            &format!(
                r#""queues": [{{ "id": 0, "core": 0 }}], "filter": {{ "dst_prefixes": [{}, {}] }} }}"#,
                v4.join(","),
                v6.join(",")
            ),
        );
        let c: Config = serde_json::from_str(&text).unwrap();
        let facts = SystemFacts {
            cpus: vec![0],
            ..Default::default()
        };
        let e = c.check(&facts).unwrap_err().0;
        assert_eq!(
            e,
            [ConfigError {
                path: "/ports/0/filter/dst_prefixes".into(),
                message: format!(
                    "{} IPv4 prefixes; a filter holds at most {PREFIXES_MAX}",
                    PREFIXES_MAX + 1
                ),
            }]
        );
        let fits = text.replace(&format!("{},", v4[PREFIXES_MAX]), "");
        let c: Config = serde_json::from_str(&fits).unwrap();
        c.check(&facts).unwrap();
    }

    #[test]
    fn an_unknown_key_is_named_by_its_path() {
        let e = errors(&MINIMAL.replace("\"id\": 0", "\"id\": 0, \"colour\": 1"));
        assert_eq!(e[0].path, "/ports/0/queues/0/colour");
        assert!(e[0].message.contains("colour"), "{}", e[0].message);
    }

    #[test]
    fn a_wrong_type_and_an_unknown_backend_are_named() {
        let e = errors(&MINIMAL.replace("\"id\": 0", "\"id\": \"zero\""));
        assert_eq!(e[0].path, "/ports/0/queues/0/id");
        let e = errors(&MINIMAL.replace("af_xdp", "carrier_pigeon"));
        assert_eq!(e[0].path, "/backend");
        assert!(e[0].message.contains("carrier_pigeon"));
    }

    #[test]
    fn semantic_errors_are_all_reported() {
        let c: Config =
            serde_json::from_str(&MINIMAL.replace("\"core\": 0", "\"core\": 9")).unwrap();
        let facts = SystemFacts {
            cpus: vec![0, 1],
            ..Default::default()
        };
        let e = c.check(&facts).unwrap_err().0;
        assert_eq!(e[0].path, "/ports/0/queues/0/core");
        assert!(e[0].message.contains("usable: 0,1"));

        let bad = MINIMAL
            .replace("\"from\": 5000", "\"from\": 6000")
            .replace("\"pipeline\": [\"count\", { \"type\": \"macswap\" }]", "\"pipeline\": [{\"type\":\"l2fwd\",\"pairs\":[[0,3]]}], \"af_xdp\": {\"rx_ring_size\": 1000}");
        let e = errors(&bad);
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/filter/udp_ports/1",
                "/af_xdp/rx_ring_size",
                "/pipeline/0/pairs/0/1"
            ]
        );
    }

    #[test]
    fn dpdk_devices_hugepages_and_taps_are_checked_against_the_system() {
        let dpdk = MINIMAL.replace("\"af_xdp\"", "\"dpdk\"").replace(
            "\"pipeline\"",
            r#""dpdk": { "devices": { "veth0": "0000:3b:00.0", "eth9": "bogus" }, "memory_mb": 256 },
               "pipeline""#,
        );
        let c: Config = serde_json::from_str(&dpdk).unwrap();
        let facts = SystemFacts {
            cpus: vec![0],
            free_hugepage_mb: 128,
            pci_devices: vec![],
        };
        let e = c.check(&facts).unwrap_err().0;
        let paths: Vec<&str> = e.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/dpdk/devices/eth9",
                "/dpdk/devices/eth9",
                "/dpdk/devices/veth0",
                "/dpdk/huge_pages"
            ]
        );
        assert!(e[2].message.contains("0000:3b:00.0 does not exist"));
        let facts = SystemFacts {
            cpus: vec![0],
            free_hugepage_mb: 512,
            pci_devices: vec!["0000:3b:00.0".into()],
        };
        let fixed: Config =
            serde_json::from_str(&dpdk.replace(", \"eth9\": \"bogus\"", "")).unwrap();
        fixed.check(&facts).unwrap();

        let missing: Config =
            serde_json::from_str(&MINIMAL.replace("\"af_xdp\"", "\"dpdk\"")).unwrap();
        let e = missing.check(&facts).unwrap_err().0;
        assert_eq!(e[0].path, "/dpdk/devices");
        assert!(e[0].message.contains("veth0"));

        let tap = MINIMAL.replace(
            "\"queues\"",
            r#""tap": { "mac": "02:00:00:00:00", "addresses": ["10.0.0.2/24", "10.0.0.3/33"], "mtu": 9 }, "queues""#,
        );
        let paths: Vec<String> = errors(&tap).into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "/ports/0/tap/mac",
                "/ports/0/tap/addresses/1",
                "/ports/0/tap/mtu"
            ]
        );
    }

    #[test]
    fn a_duplicate_interface_names_the_port_that_has_it_first() {
        let three = MINIMAL.replace(
            r#""ports": [{ "interface": "veth0", "queues": [{ "id": 0, "core": 0 }] }]"#,
            r#""ports": [
                { "interface": "veth0", "queues": [{ "id": 0, "core": 0 }] },
                { "interface": "veth1", "queues": [{ "id": 0, "core": 0 }] },
                { "interface": "veth1", "queues": [{ "id": 1, "core": 0 }] }
            ]"#,
        );
        let c: Config = serde_json::from_str(&three).unwrap();
        let facts = SystemFacts {
            cpus: vec![0],
            ..Default::default()
        };
        let e = c.check(&facts).unwrap_err().0;
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].path, "/ports/2/interface");
        assert_eq!(
            e[0].message,
            "interface veth1 is already port 1 (/ports/1/interface)"
        );
    }

    #[test]
    fn a_port_range_with_an_unknown_key_is_rejected() {
        let e = errors(&MINIMAL.replace("\"to\": 5010", "\"to\": 5010, \"step\": 2"));
        assert_eq!(e[0].path, "/filter/udp_ports/1");
    }

    #[test]
    fn an_option_of_another_backend_is_an_unknown_key() {
        let e = errors(&MINIMAL.replace(
            "\"pipeline\"",
            r#""af_xdp": { "eal_args": [] }, "pipeline""#,
        ));
        assert_eq!(e[0].path, "/af_xdp/eal_args");
    }

    #[test]
    fn cpu_lists_parse_as_the_kernel_writes_them() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list("1"), Some(vec![1]));
        assert_eq!(parse_cpu_list(""), None);
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert!(!online_cpus().is_empty());
    }

    #[test]
    fn serde_paths_become_json_pointers() {
        assert_eq!(
            pointer_from_serde_path("ports[0].queues[12].core"),
            "/ports/0/queues/12/core"
        );
        assert_eq!(pointer_from_serde_path("."), "");
        assert_eq!(pointer_from_serde_path("pipeline[0]"), "/pipeline/0");
    }
}
