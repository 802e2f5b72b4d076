//! Fastlane's XDP program and its loader.
//!
//! The program (`fastlane.bpf.c`, compiled by build.rs and embedded here) splits the traffic of
//! one interface: frames the filter selects go to the AF_XDP socket registered for the queue they
//! arrived on, everything else to the kernel stack. The rules are those of
//! [`FilterTables::classify`]; the tests hold the two to the same answers.
//!
//! Each [`XdpPort`] is a fresh instance of the program with its own maps, attached through a
//! bpf_link: dropping the port detaches it, and so does the kernel if the process dies.
//!
//! The same object carries the split for AF_PACKET: [`SocketFilter`] and [`TcSuppressor`].

mod skb;

pub use skb::{
    tcx_ingress_programs, SkbProgramError, SocketFilter, TcSuppressor, TC_ACT_SHOT, TC_ACT_UNSPEC,
};

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};

use aya::maps::{Array, MapData, XskMap};
use aya::programs::{ProgramError, Xdp};
use aya::{Ebpf, EbpfLoader};
use fastlane_core::config::AttachMode;
use fastlane_core::{FilterTables, SlowReason};
use fastlane_sys::{bpf, netdev, SysError};

const PROGRAM: &str = "fastlane";
const FILTER_MAP: &str = "filter";
const XSKS_MAP: &str = "xsks";
const COUNTERS_MAP: &str = "counters";

/// Indexes into the `counters` map (`enum fl_counter` of the program).
const COUNT_REDIRECTED: u32 = 0;
const COUNT_NO_SOCKET: u32 = 1;
const COUNT_PASSED: u32 = 2;

const FILTER_SIZE: usize = std::mem::size_of::<FilterTables>();

/// The compiled program, an ELF object for the BPF target.
pub fn program_object() -> &'static [u8] {
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/fastlane.bpf.o"))
}

/// Where the program runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachedMode {
    /// In the driver, before any socket buffer exists.
    Native,
    /// In the core network stack, after the driver built a socket buffer.
    Generic,
}

impl AttachedMode {
    fn flags(self) -> u32 {
        match self {
            AttachedMode::Native => bpf::XDP_FLAGS_DRV_MODE,
            AttachedMode::Generic => bpf::XDP_FLAGS_SKB_MODE,
        }
    }
}

/// The program's counters, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpCounters {
    /// Fast-path frames redirected to a registered socket.
    pub redirected: u64,
    /// Fast-path frames whose queue had no socket; the kernel got them.
    pub no_socket: u64,
    /// Frames passed to the kernel, indexed by `SlowReason as usize`.
    pub passed: [u64; 6],
}

impl XdpCounters {
    /// Frames passed to the kernel for `reason`.
    pub fn passed_for(&self, reason: SlowReason) -> u64 {
        self.passed[reason as usize]
    }
}

/// What one `BPF_PROG_TEST_RUN` of the program returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRun {
    /// The XDP action (`XDP_PASS` = 2, `XDP_REDIRECT` = 4, ...).
    pub action: u32,
    /// The frame as the program left it.
    pub frame: Vec<u8>,
}

/// `XDP_PASS` of linux/bpf.h: the frame goes to the kernel stack.
pub const XDP_PASS: u32 = 2;
/// `XDP_REDIRECT` of linux/bpf.h: the frame goes to an AF_XDP socket.
pub const XDP_REDIRECT: u32 = 4;

/// Why an XDP operation failed.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    #[error("{interface}: no such interface in this network namespace: {errno}")]
    NoSuchInterface { interface: String, errno: io::Error },
    /// The verifier refused the program; `verifier_log` is its output, verbatim.
    #[error(
        "{interface}: BPF_PROG_LOAD of the XDP program: {errno}\nverifier log:\n{verifier_log}"
    )]
    Verifier {
        interface: String,
        errno: io::Error,
        verifier_log: String,
    },
    /// A kernel call failed; `cause` is the whole chain of errors, ending in the errno text.
    #[error("{interface}: {operation}: {cause}")]
    Kernel {
        interface: String,
        operation: &'static str,
        errno: Option<i32>,
        cause: String,
    },
    /// The embedded object lacks a program or map the loader expects (a build defect).
    #[error("{interface}: the XDP object has no program or map named `{name}`")]
    Object {
        interface: String,
        name: &'static str,
    },
    #[error("{interface}: the filter is {size} bytes, struct fl_filter is {FILTER_SIZE}")]
    FilterSize { interface: String, size: usize },
}

impl XdpError {
    fn kernel(
        interface: &str,
        operation: &'static str,
        error: &(dyn std::error::Error + 'static),
    ) -> Self {
        let (cause, errno) = error_chain(error);
        XdpError::Kernel {
            interface: interface.to_string(),
            operation,
            errno,
            cause,
        }
    }

    /// The errno of the failed kernel call, if the kernel gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            XdpError::NoSuchInterface { errno, .. } | XdpError::Verifier { errno, .. } => {
                errno.raw_os_error()
            }
            XdpError::Kernel { errno, .. } => *errno,
            XdpError::Object { .. } | XdpError::FilterSize { .. } => None,
        }
    }
}

/// The text of `error` and of every error under it, and the errno of the deepest I/O or system
/// call error.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> (String, Option<i32>) {
    let mut cause = error.to_string();
    let mut errno = None;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            errno = io.raw_os_error();
        } else if let Some(sys) = e.downcast_ref::<SysError>() {
            errno = Some(sys.errno);
        }
        if !std::ptr::eq(e, error) {
            cause.push_str(": ");
            cause.push_str(&e.to_string());
        }
        next = e.source();
    }
    (cause, errno)
}

/// The XSKMAP of an XDP program another process loaded and attached, adopted from a descriptor
/// it passed: a process without any capability can put its AF_XDP sockets in it.
#[derive(Debug)]
pub struct XskMapFd {
    fd: OwnedFd,
}

impl XskMapFd {
    /// Adopts `fd`, refusing a descriptor that is not an XSKMAP.
    pub fn adopt(fd: OwnedFd) -> Result<XskMapFd, SysError> {
        let info = bpf::map_info(fd.as_fd())?;
        if info.map_type != bpf::BPF_MAP_TYPE_XSKMAP {
            return Err(SysError::new("bpf(BPF_OBJ_GET_INFO_BY_FD)", libc::EINVAL)
                .with_context(format!("map type {} is not an XSKMAP", info.map_type)));
        }
        Ok(XskMapFd { fd })
    }

    /// Sends the redirected frames of `queue` to AF_XDP socket `xsk`.
    pub fn register_socket(&self, queue: u32, xsk: BorrowedFd<'_>) -> Result<(), SysError> {
        bpf::xskmap_insert(self.fd.as_fd(), queue, xsk)
    }
}

impl AsFd for XskMapFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The counters map of an XDP program another process loaded, adopted from a descriptor it
/// passed: reading it needs no capability.
#[derive(Debug)]
pub struct XdpCountersFd {
    fd: OwnedFd,
}

impl XdpCountersFd {
    /// Adopts `fd`, refusing a descriptor that is not a per-CPU array of the counters' shape.
    pub fn adopt(fd: OwnedFd) -> Result<XdpCountersFd, SysError> {
        let info = bpf::map_info(fd.as_fd())?;
        if info.map_type != bpf::BPF_MAP_TYPE_PERCPU_ARRAY
            || info.value_size != 8
            || info.max_entries < COUNT_PASSED + SlowReason::ALL.len() as u32
        {
            return Err(
                SysError::new("bpf(BPF_OBJ_GET_INFO_BY_FD)", libc::EINVAL).with_context(format!(
                    "map type {} with {} entries of {} bytes is not the XDP counters map",
                    info.map_type, info.max_entries, info.value_size
                )),
            );
        }
        Ok(XdpCountersFd { fd })
    }

    /// The counters, summed over CPUs.
    pub fn read(&self) -> Result<XdpCounters, SysError> {
        read_counters(self.fd.as_fd())
    }
}

/// Reads the program's counters map (a per-CPU array of u64), summed over the possible CPUs.
fn read_counters(map: BorrowedFd<'_>) -> Result<XdpCounters, SysError> {
    let cpus = aya::util::nr_cpus().map_err(|(_, e)| {
        SysError::new(
            "read /sys/devices/system/cpu/possible",
            e.raw_os_error().unwrap_or(0),
        )
    })?;
    let mut values = vec![0u8; 8 * cpus];
    let mut sum = |index: u32| -> Result<u64, SysError> {
        bpf::map_lookup(map, &index.to_ne_bytes(), &mut values)?;
        Ok(values
            .chunks_exact(8)
            .map(|v| u64::from_ne_bytes(v.try_into().expect("8-byte chunks")))
            .fold(0u64, u64::wrapping_add))
    };
    let mut out = XdpCounters {
        redirected: sum(COUNT_REDIRECTED)?,
        no_socket: sum(COUNT_NO_SOCKET)?,
        passed: [0; 6],
    };
    for reason in SlowReason::ALL {
        out.passed[reason as usize] = sum(COUNT_PASSED + reason as u32)?;
    }
    Ok(out)
}

/// The program attached to one interface, with its own maps. Dropping it detaches the program.
#[derive(Debug)]
pub struct XdpPort {
    ebpf: Ebpf,
    /// The bpf_link that holds the program on the interface; `None` once detached.
    link: Option<OwnedFd>,
    interface: String,
    ifindex: u32,
    mode: AttachedMode,
}

impl XdpPort {
    /// Loads a fresh instance of the program (its own maps), writes the filter, and attaches it to
    /// `interface` (resolved in the calling thread's network namespace).
    pub fn attach(
        interface: &str,
        mode: AttachMode,
        filter: &FilterTables,
    ) -> Result<XdpPort, XdpError> {
        let ifindex = netdev::if_index(interface).map_err(|e| XdpError::NoSuchInterface {
            interface: interface.to_string(),
            errno: e.into(),
        })?;
        let mut ebpf = EbpfLoader::new()
            .btf(None)
            .load(program_object())
            .map_err(|e| XdpError::kernel(interface, "create the maps of the XDP program", &e))?;
        write_filter(&mut ebpf, interface, filter)?;
        xdp_program_mut(&mut ebpf, interface)?
            .load()
            .map_err(|e| match e {
                ProgramError::LoadError {
                    io_error,
                    verifier_log,
                } => XdpError::Verifier {
                    interface: interface.to_string(),
                    errno: io_error,
                    verifier_log: verifier_log.to_string(),
                },
                e => XdpError::kernel(interface, "load the XDP program", &e),
            })?;
        let program = xdp_program(&ebpf, interface)?;
        let attach = |mode: AttachedMode| {
            let operation = match mode {
                AttachedMode::Native => "attach the XDP program in native mode",
                AttachedMode::Generic => "attach the XDP program in generic mode",
            };
            let fd = program
                .fd()
                .map_err(|e| XdpError::kernel(interface, operation, &e))?;
            bpf::xdp_link_create(fd.as_fd(), ifindex, mode.flags())
                .map(|link| (link, mode))
                .map_err(|e| XdpError::kernel(interface, operation, &e))
        };
        let (link, mode) = match mode {
            AttachMode::Native => attach(AttachedMode::Native)?,
            AttachMode::Generic => attach(AttachedMode::Generic)?,
            AttachMode::Auto => attach(AttachedMode::Native).or_else(|native| {
                log::info!("{native}; attaching in generic mode instead");
                attach(AttachedMode::Generic)
            })?,
        };
        Ok(XdpPort {
            ebpf,
            link: Some(link),
            interface: interface.to_string(),
            ifindex,
            mode,
        })
    }

    /// How the program is attached.
    pub fn mode(&self) -> AttachedMode {
        self.mode
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Replaces the filter. The program sees the new tables from its next frame on; a frame
    /// being classified while the map is written may see a mix of the two.
    pub fn set_filter(&mut self, filter: &FilterTables) -> Result<(), XdpError> {
        write_filter(&mut self.ebpf, &self.interface, filter)
    }

    /// Sends the fast-path frames of `queue` to the AF_XDP socket `xsk_fd` (bound to this
    /// interface and queue). The map keeps its own reference to the socket.
    pub fn register_socket(&mut self, queue: u32, xsk_fd: RawFd) -> Result<(), XdpError> {
        const OPERATION: &str = "register an AF_XDP socket in the xsks map";
        let interface = &self.interface;
        let map = self
            .ebpf
            .map_mut(XSKS_MAP)
            .ok_or_else(|| missing(interface, XSKS_MAP))?;
        let mut xsks =
            XskMap::try_from(map).map_err(|e| XdpError::kernel(interface, OPERATION, &e))?;
        xsks.set(queue, xsk_fd, 0)
            .map_err(|e| XdpError::kernel(interface, OPERATION, &e))
    }

    /// A descriptor of the program's XSKMAP, for a process that registers AF_XDP sockets
    /// without loading the program (handed over SCM_RIGHTS, adopted with [`XskMapFd::adopt`]).
    pub fn export_xsk_map(&self) -> Result<OwnedFd, XdpError> {
        const OPERATION: &str = "duplicate the xsks map descriptor";
        let interface = &self.interface;
        let map = self
            .ebpf
            .map(XSKS_MAP)
            .ok_or_else(|| missing(interface, XSKS_MAP))?;
        let aya::maps::Map::XskMap(data) = map else {
            return Err(missing(interface, XSKS_MAP));
        };
        data.fd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| XdpError::kernel(interface, OPERATION, &e))
    }

    /// The counters, summed over CPUs.
    pub fn counters(&self) -> Result<XdpCounters, XdpError> {
        read_counters(self.counters_map()?.fd().as_fd())
            .map_err(|e| XdpError::kernel(&self.interface, "read the counters map", &e))
    }

    /// A descriptor of the program's counters map, for a process that reads the split's counters
    /// without having loaded the program (adopted with [`XdpCountersFd::adopt`]).
    pub fn export_counters_map(&self) -> Result<OwnedFd, XdpError> {
        self.counters_map()?
            .fd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| XdpError::kernel(&self.interface, "duplicate the counters map", &e))
    }

    fn counters_map(&self) -> Result<&MapData, XdpError> {
        match self.ebpf.map(COUNTERS_MAP) {
            Some(aya::maps::Map::PerCpuArray(data)) => Ok(data),
            _ => Err(missing(&self.interface, COUNTERS_MAP)),
        }
    }

    /// Runs the program once over `frame` with `BPF_PROG_TEST_RUN`, as if it had arrived on
    /// queue 0. The counters count it like any other frame.
    pub fn test_run(&self, frame: &[u8]) -> Result<TestRun, XdpError> {
        const OPERATION: &str = "BPF_PROG_TEST_RUN of the XDP program";
        let interface = &self.interface;
        let program = xdp_program(&self.ebpf, interface)?;
        let fd = program
            .fd()
            .map_err(|e| XdpError::kernel(interface, OPERATION, &e))?;
        // Room for what the program could grow the frame to (it never does).
        let mut out = vec![0u8; frame.len() + 4096];
        let (action, len) = bpf::prog_test_run(fd.as_fd(), frame, &mut out)
            .map_err(|e| XdpError::kernel(interface, OPERATION, &e))?;
        out.truncate(len);
        Ok(TestRun { action, frame: out })
    }

    /// A descriptor of the bpf_link that holds the program on the interface, for a process
    /// that should keep it attached for as long as it lives (it cannot change the program).
    pub fn export_link(&self) -> Result<OwnedFd, XdpError> {
        export_link(
            self.link.as_ref(),
            &self.interface,
            "duplicate the XDP link",
        )
    }

    /// Closes this process's hold on the program without detaching it: it stays attached while
    /// an exported link lives elsewhere, and goes when that closes.
    pub fn release(mut self) {
        drop(self.link.take());
    }

    /// Detaches the program and frees its maps.
    pub fn detach(mut self) -> Result<(), XdpError> {
        match self.link.take() {
            Some(link) => bpf::link_detach(link.as_fd())
                .map_err(|e| XdpError::kernel(&self.interface, "detach the XDP program", &e)),
            None => Ok(()),
        }
    }
}

impl Drop for XdpPort {
    fn drop(&mut self) {
        // Closing the link alone would leave the program attached while a child process forked
        // by any thread still holds a copy of the descriptor.
        if let Some(link) = self.link.take() {
            if let Err(e) = bpf::link_detach(link.as_fd()) {
                log::warn!("{}: detach the XDP program: {e}", self.interface);
            }
        }
    }
}

fn export_link(
    link: Option<&OwnedFd>,
    interface: &str,
    operation: &'static str,
) -> Result<OwnedFd, XdpError> {
    let link = link.ok_or_else(|| XdpError::Kernel {
        interface: interface.to_string(),
        operation,
        errno: Some(libc::ENOLINK),
        cause: "the program is detached".into(),
    })?;
    link.try_clone()
        .map_err(|e| XdpError::kernel(interface, operation, &e))
}

fn xdp_program<'a>(ebpf: &'a Ebpf, interface: &str) -> Result<&'a Xdp, XdpError> {
    let program = ebpf
        .program(PROGRAM)
        .ok_or_else(|| missing(interface, PROGRAM))?;
    program
        .try_into()
        .map_err(|e: ProgramError| XdpError::kernel(interface, "find the XDP program", &e))
}

fn xdp_program_mut<'a>(ebpf: &'a mut Ebpf, interface: &str) -> Result<&'a mut Xdp, XdpError> {
    let program = ebpf
        .program_mut(PROGRAM)
        .ok_or_else(|| missing(interface, PROGRAM))?;
    program
        .try_into()
        .map_err(|e: ProgramError| XdpError::kernel(interface, "find the XDP program", &e))
}

fn write_filter(ebpf: &mut Ebpf, interface: &str, filter: &FilterTables) -> Result<(), XdpError> {
    const OPERATION: &str = "write the filter map";
    let bytes = filter.as_bytes();
    let value: &[u8; FILTER_SIZE] = bytes.try_into().map_err(|_| XdpError::FilterSize {
        interface: interface.to_string(),
        size: bytes.len(),
    })?;
    let map = ebpf
        .map_mut(FILTER_MAP)
        .ok_or_else(|| missing(interface, FILTER_MAP))?;
    let mut array: Array<&mut MapData, [u8; FILTER_SIZE]> =
        Array::try_from(map).map_err(|e| XdpError::kernel(interface, OPERATION, &e))?;
    array
        .set(0, value, 0)
        .map_err(|e| XdpError::kernel(interface, OPERATION, &e))
}

fn missing(interface: &str, name: &'static str) -> XdpError {
    XdpError::Object {
        interface: interface.to_string(),
        name,
    }
}
