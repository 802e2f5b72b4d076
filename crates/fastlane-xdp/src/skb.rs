//! The split for backends that receive socket buffers (AF_PACKET): a socket filter that lets only
//! fast-path frames into a socket, and a tc ingress program that keeps fast-path frames from the
//! kernel stack. Both run the XDP program's `classify` over the same `filter` map layout.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use aya::maps::{Array, MapData};
use aya::programs::{ProgramError, SchedClassifier, SocketFilter as AyaSocketFilter};
use aya::{Ebpf, EbpfLoader};
use fastlane_core::FilterTables;

use fastlane_sys::{bpf, netdev};

use crate::{program_object, FILTER_MAP, FILTER_SIZE};

const SOCKET_PROGRAM: &str = "fastlane_socket";
const TC_PROGRAM: &str = "fastlane_tc";

/// `TC_ACT_SHOT` of linux/pkt_cls.h: the tc program dropped the frame.
pub const TC_ACT_SHOT: i32 = 2;
/// `TC_ACT_UNSPEC` of linux/pkt_cls.h (`TCX_NEXT`): the frame goes on to the next tc program or,
/// when there is none, to the kernel stack.
pub const TC_ACT_UNSPEC: i32 = -1;

/// Why loading, attaching or running a socket-buffer program failed. `program` names which one
/// (`socket filter`, or `tc ingress program on IFACE`).
#[derive(Debug, thiserror::Error)]
pub enum SkbProgramError {
    #[error("{interface}: no such interface in this network namespace: {errno}")]
    NoSuchInterface { interface: String, errno: io::Error },
    /// The verifier refused the program; `verifier_log` is its output, verbatim.
    #[error("{program}: BPF_PROG_LOAD: {errno}\nverifier log:\n{verifier_log}")]
    Verifier {
        program: String,
        errno: io::Error,
        verifier_log: String,
    },
    /// A kernel call failed; `cause` is the whole chain of errors, ending in the errno text.
    #[error("{program}: {operation}: {cause}")]
    Kernel {
        program: String,
        operation: &'static str,
        errno: Option<i32>,
        cause: String,
    },
    /// The embedded object lacks a program or map the loader expects (a build defect).
    #[error("{program}: the BPF object has no program or map named `{name}`")]
    Object { program: String, name: &'static str },
}

impl SkbProgramError {
    fn kernel(
        program: &str,
        operation: &'static str,
        error: &(dyn std::error::Error + 'static),
    ) -> Self {
        let (cause, errno) = crate::error_chain(error);
        SkbProgramError::Kernel {
            program: program.to_string(),
            operation,
            errno,
            cause,
        }
    }

    fn load(program: &str, error: ProgramError) -> Self {
        match error {
            ProgramError::LoadError {
                io_error,
                verifier_log,
            } => SkbProgramError::Verifier {
                program: program.to_string(),
                errno: io_error,
                verifier_log: verifier_log.to_string(),
            },
            e => SkbProgramError::kernel(program, "load the program", &e),
        }
    }

    /// The errno of the failed kernel call, if the kernel gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            SkbProgramError::NoSuchInterface { errno, .. }
            | SkbProgramError::Verifier { errno, .. } => errno.raw_os_error(),
            SkbProgramError::Kernel { errno, .. } => *errno,
            SkbProgramError::Object { .. } => None,
        }
    }

    /// Whether the kernel refused for lack of privilege (CAP_BPF, CAP_NET_ADMIN): EPERM, or
    /// EACCES as some kernel paths answer.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self.errno(), Some(libc::EPERM | libc::EACCES))
    }
}

/// Loads a fresh instance of the object (its own maps) and writes the filter into it.
fn load_object(program: &str, filter: &FilterTables) -> Result<Ebpf, SkbProgramError> {
    let mut ebpf = EbpfLoader::new()
        .btf(None)
        .load(program_object())
        .map_err(|e| SkbProgramError::kernel(program, "create the maps", &e))?;
    write_filter(&mut ebpf, program, filter)?;
    Ok(ebpf)
}

fn write_filter(
    ebpf: &mut Ebpf,
    program: &str,
    filter: &FilterTables,
) -> Result<(), SkbProgramError> {
    const OPERATION: &str = "write the filter map";
    let value: &[u8; FILTER_SIZE] = filter
        .as_bytes()
        .try_into()
        .expect("FilterTables is struct fl_filter");
    let map = ebpf.map_mut(FILTER_MAP).ok_or(SkbProgramError::Object {
        program: program.to_string(),
        name: FILTER_MAP,
    })?;
    let mut array: Array<&mut MapData, [u8; FILTER_SIZE]> =
        Array::try_from(map).map_err(|e| SkbProgramError::kernel(program, OPERATION, &e))?;
    array
        .set(0, value, 0)
        .map_err(|e| SkbProgramError::kernel(program, OPERATION, &e))
}

fn missing_program(program: &str) -> SkbProgramError {
    SkbProgramError::Object {
        program: program.to_string(),
        name: if program == SocketFilter::LABEL {
            SOCKET_PROGRAM
        } else {
            TC_PROGRAM
        },
    }
}

/// The socket filter, loaded with its own filter map. Attach it to any number of sockets (with
/// `SO_ATTACH_BPF` on [`SocketFilter::fd`]); each socket keeps the program alive once attached.
#[derive(Debug)]
pub struct SocketFilter {
    ebpf: Ebpf,
}

impl SocketFilter {
    const LABEL: &'static str = "socket filter";

    /// Loads the program and writes `filter`. Fails with EPERM (see
    /// [`SkbProgramError::is_permission_denied`]) without CAP_BPF.
    pub fn load(filter: &FilterTables) -> Result<SocketFilter, SkbProgramError> {
        let mut ebpf = load_object(Self::LABEL, filter)?;
        let program: &mut AyaSocketFilter = ebpf
            .program_mut(SOCKET_PROGRAM)
            .ok_or_else(|| missing_program(Self::LABEL))?
            .try_into()
            .map_err(|e: ProgramError| {
                SkbProgramError::kernel(Self::LABEL, "find the program", &e)
            })?;
        program
            .load()
            .map_err(|e| SkbProgramError::load(Self::LABEL, e))?;
        Ok(SocketFilter { ebpf })
    }

    fn program(&self) -> Result<&AyaSocketFilter, SkbProgramError> {
        self.ebpf
            .program(SOCKET_PROGRAM)
            .ok_or_else(|| missing_program(Self::LABEL))?
            .try_into()
            .map_err(|e: ProgramError| SkbProgramError::kernel(Self::LABEL, "find the program", &e))
    }

    /// The program's descriptor, for `SO_ATTACH_BPF`.
    pub fn fd(&self) -> Result<BorrowedFd<'_>, SkbProgramError> {
        let program = self.program()?;
        let fd = program
            .fd()
            .map_err(|e| SkbProgramError::kernel(Self::LABEL, "find the program", &e))?;
        Ok(fd.as_fd())
    }

    /// Replaces the filter, for every socket the program is attached to.
    pub fn set_filter(&mut self, filter: &FilterTables) -> Result<(), SkbProgramError> {
        write_filter(&mut self.ebpf, Self::LABEL, filter)
    }

    /// Runs the program once over `frame` with `BPF_PROG_TEST_RUN` and returns how many bytes of
    /// it the socket would keep (0: refused). The kernel's test harness strips a link-layer
    /// header from its input before running a socket filter, where an AF_PACKET SOCK_RAW socket
    /// shows the filter the whole frame: so a dummy header goes in front of `frame`.
    pub fn test_run(&self, frame: &[u8]) -> Result<u32, SkbProgramError> {
        const OPERATION: &str = "BPF_PROG_TEST_RUN";
        let mut input = vec![0u8; ETH_HLEN];
        input.extend_from_slice(frame);
        let mut out = vec![0u8; input.len() + 256];
        let (retval, _) = bpf::prog_test_run(self.fd()?, &input, &mut out)
            .map_err(|e| SkbProgramError::kernel(Self::LABEL, OPERATION, &e))?;
        Ok(retval)
    }
}

const ETH_HLEN: usize = 14;

/// The tc ingress program attached to one interface with TCX (a bpf_link, kernel >= 6.6), with
/// its own filter map. Dropping it detaches the program.
#[derive(Debug)]
pub struct TcSuppressor {
    ebpf: Ebpf,
    /// The bpf_link that holds the program on the interface; `None` once detached.
    link: Option<OwnedFd>,
    label: String,
    interface: String,
    ifindex: u32,
}

impl TcSuppressor {
    /// Loads the program, writes `filter`, and attaches it to the ingress of `interface`
    /// (resolved in the calling thread's network namespace), after any TCX program already
    /// there. Needs CAP_BPF and CAP_NET_ADMIN.
    pub fn attach(interface: &str, filter: &FilterTables) -> Result<TcSuppressor, SkbProgramError> {
        let label = format!("tc ingress program on {interface}");
        let ifindex =
            netdev::if_index(interface).map_err(|e| SkbProgramError::NoSuchInterface {
                interface: interface.to_string(),
                errno: e.into(),
            })?;
        let mut ebpf = load_object(&label, filter)?;
        let program: &mut SchedClassifier = ebpf
            .program_mut(TC_PROGRAM)
            .ok_or_else(|| missing_program(&label))?
            .try_into()
            .map_err(|e: ProgramError| SkbProgramError::kernel(&label, "find the program", &e))?;
        program
            .load()
            .map_err(|e| SkbProgramError::load(&label, e))?;
        let fd = program
            .fd()
            .map_err(|e| SkbProgramError::kernel(&label, "find the program", &e))?;
        let link =
            bpf::tcx_link_create(fd.as_fd(), ifindex, bpf::BPF_TCX_INGRESS).map_err(|e| {
                SkbProgramError::kernel(&label, "attach with TCX (BPF_LINK_CREATE)", &e)
            })?;
        Ok(TcSuppressor {
            ebpf,
            link: Some(link),
            label,
            interface: interface.to_string(),
            ifindex,
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Replaces the filter; the program sees the new tables from its next frame on.
    pub fn set_filter(&mut self, filter: &FilterTables) -> Result<(), SkbProgramError> {
        write_filter(&mut self.ebpf, &self.label, filter)
    }

    /// Runs the program once over `frame` with `BPF_PROG_TEST_RUN` and returns its verdict
    /// ([`TC_ACT_SHOT`] or [`TC_ACT_UNSPEC`]).
    pub fn test_run(&self, frame: &[u8]) -> Result<i32, SkbProgramError> {
        const OPERATION: &str = "BPF_PROG_TEST_RUN";
        let program: &SchedClassifier = self
            .ebpf
            .program(TC_PROGRAM)
            .ok_or_else(|| missing_program(&self.label))?
            .try_into()
            .map_err(|e: ProgramError| SkbProgramError::kernel(&self.label, OPERATION, &e))?;
        let fd = program
            .fd()
            .map_err(|e| SkbProgramError::kernel(&self.label, OPERATION, &e))?;
        let mut out = vec![0u8; frame.len() + 256];
        let (retval, _) = bpf::prog_test_run(fd.as_fd(), frame, &mut out)
            .map_err(|e| SkbProgramError::kernel(&self.label, OPERATION, &e))?;
        Ok(retval as i32)
    }

    /// A descriptor of the bpf_link that holds the program on the interface, for a process
    /// that should keep it attached for as long as it lives (it cannot change the program).
    pub fn export_link(&self) -> Result<OwnedFd, SkbProgramError> {
        const OPERATION: &str = "duplicate the TCX link";
        let link = self.link.as_ref().ok_or_else(|| {
            SkbProgramError::kernel(
                &self.label,
                OPERATION,
                &std::io::Error::from_raw_os_error(libc::ENOLINK),
            )
        })?;
        link.try_clone()
            .map_err(|e| SkbProgramError::kernel(&self.label, OPERATION, &e))
    }

    /// Closes this process's hold on the program without detaching it: it stays attached while
    /// an exported link lives elsewhere, and goes when that closes.
    pub fn release(mut self) {
        drop(self.link.take());
    }

    /// Detaches the program and frees its maps.
    pub fn detach(mut self) -> Result<(), SkbProgramError> {
        match self.link.take() {
            Some(link) => bpf::link_detach(link.as_fd())
                .map_err(|e| SkbProgramError::kernel(&self.label, "detach (BPF_LINK_DETACH)", &e)),
            None => Ok(()),
        }
    }
}

impl Drop for TcSuppressor {
    fn drop(&mut self) {
        // As for XDP: a forked child's copy of the link must not keep the program attached.
        if let Some(link) = self.link.take() {
            if let Err(e) = bpf::link_detach(link.as_fd()) {
                log::warn!("{}: detach: {e}", self.label);
            }
        }
    }
}

/// How many TCX ingress programs `interface` (in the calling thread's network namespace) has.
pub fn tcx_ingress_programs(interface: &str) -> Result<u32, SkbProgramError> {
    let ifindex = netdev::if_index(interface).map_err(|e| SkbProgramError::NoSuchInterface {
        interface: interface.to_string(),
        errno: e.into(),
    })?;
    bpf::tcx_query(ifindex, bpf::BPF_TCX_INGRESS).map_err(|e| {
        SkbProgramError::kernel(interface, "BPF_PROG_QUERY of TCX ingress programs", &e)
    })
}
