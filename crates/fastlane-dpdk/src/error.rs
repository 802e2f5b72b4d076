//! Why the DPDK backend could not start or answer.

use fastlane_core::netns::NetnsError;
use fastlane_core::PortId;

#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    #[error(
        "fastlane was built without DPDK support (pkg-config found no libdpdk at build time): \
         install libdpdk-dev and pkg-config (Debian: apt install libdpdk-dev pkg-config) and rebuild"
    )]
    NotBuilt,
    #[error(
        "libfastlane_dpdk.so not found (looked at {looked}): put it next to the fastlane binary \
         or .node file, or set FASTLANE_DPDK_LIB to its path"
    )]
    ShimNotFound { looked: String },
    #[error(
        "cannot load {path}: {reason}; DPDK's runtime libraries are missing: install them \
         (Debian: apt install dpdk)"
    )]
    DpdkLibrariesMissing { path: String, reason: String },
    #[error("cannot load {path}: {reason}")]
    ShimLoad { path: String, reason: String },
    #[error(
        "{path} lacks {symbol}: {reason} (a libfastlane_dpdk.so from another fastlane build?)"
    )]
    ShimSymbol {
        path: String,
        symbol: &'static str,
        reason: String,
    },
    #[error(
        "{path} was built against another struct rte_mbuf than this binary (size and offsets \
         {shim:?}, expected {ours:?}): use the libfastlane_dpdk.so built with it"
    )]
    ShimLayout {
        path: String,
        shim: Vec<u32>,
        ours: Vec<u32>,
    },
    #[error(
        "DPDK's EAL initialises once per process and this process already did (EAL arguments \
         {previous:?}); cannot start again with {requested:?}: run it in a new process"
    )]
    EalInUse {
        previous: Vec<String>,
        requested: Vec<String>,
    },
    #[error("rte_eal_init({args:?}): {text} (rte_errno {errno})")]
    EalInit {
        args: Vec<String>,
        errno: i32,
        text: String,
    },
    #[error("port {port} ({interface}) has no device in dpdk.devices")]
    NoDevice { port: PortId, interface: String },
    #[error("PCI device {device} of port {port} ({interface}) does not exist on this system")]
    NoPciDevice {
        port: PortId,
        interface: String,
        device: String,
    },
    #[error(
        "rte_eth_dev_get_port_by_name({name}) for port {port} ({interface}): {text}; a PCI \
         device must be bound to a driver DPDK can use (vfio-pci), a vdev must be a net_ driver"
    )]
    NoEthdev {
        port: PortId,
        interface: String,
        name: String,
        text: String,
    },
    #[error(
        "queue {queue} of port {port} ({interface}): a DPDK port has queues 0..{count} for the \
         {count} queues the config lists"
    )]
    QueueOutOfRange {
        port: PortId,
        interface: String,
        queue: u16,
        count: u16,
    },
    #[error(
        "rte_pktmbuf_pool_create({mbufs} mbufs, cache {cache}): {text} (rte_errno {errno}); \
         fit dpdk.mbufs to dpdk.memory_mb"
    )]
    Pool {
        mbufs: u32,
        cache: u32,
        errno: i32,
        text: String,
    },
    #[error("{function} on port {port} ({device}): {text} (errno {errno})")]
    Port {
        function: &'static str,
        port: PortId,
        device: String,
        errno: i32,
        text: String,
    },
    #[error("port {port} ({interface}) is not a port this DPDK instance started")]
    UnknownPort { port: PortId, interface: String },
    #[error("a data-plane thread needs at least one queue and a batch size of 1 to 65535")]
    EmptyThread,
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("the DPDK setup thread panicked")]
    SetupPanicked,
}
