//! The raw syscalls aya does not wrap, or wraps without the control needed here: interface
//! lookup, XDP and TCX bpf_links, TCX queries, and `BPF_PROG_TEST_RUN`.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_PROG_TEST_RUN: libc::c_int = 10;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_LINK_CREATE: libc::c_int = 28;
const BPF_LINK_DETACH: libc::c_int = 34;
const BPF_XDP: u32 = 37;
pub(crate) const BPF_TCX_INGRESS: u32 = 46;

pub(crate) const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub(crate) const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;

/// The XDP part of the `link_create` member of `union bpf_attr`.
#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}

/// The `link_detach` member of `union bpf_attr`.
#[repr(C)]
struct LinkDetachAttr {
    link_fd: u32,
}

/// `bpf(cmd, attr, sizeof attr)`. Every attr type here has no padding, so the kernel's check
/// that unused bytes are zero holds.
///
/// # Safety
///
/// `attr` must be the member of `union bpf_attr` that `cmd` takes, and any pointers in it must
/// be valid for what the kernel does with them.
unsafe fn bpf<T>(cmd: libc::c_int, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: the caller vouches for `attr`; the size passed is its own.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Attaches XDP program `prog` to interface `ifindex` of the calling thread's network namespace
/// with a bpf_link; `flags` selects the mode. The program stays attached while the link lives.
pub(crate) fn xdp_link_create(
    prog: BorrowedFd<'_>,
    ifindex: u32,
    flags: u32,
) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags,
    };
    // SAFETY: BPF_LINK_CREATE takes `link_create`, of which `attr` is the XDP prefix.
    let fd = unsafe { bpf(BPF_LINK_CREATE, &mut attr) }?;
    // SAFETY: on success the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Attaches tc program `prog` to the TCX hook `attach_type` of interface `ifindex`, after the
/// programs already there (the `tcx` member of `link_create` left zero). The program stays
/// attached while the link lives.
pub(crate) fn tcx_link_create(
    prog: BorrowedFd<'_>,
    ifindex: u32,
    attach_type: u32,
) -> io::Result<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type,
        flags: 0,
    };
    // SAFETY: BPF_LINK_CREATE takes `link_create`; the kernel reads the missing `tcx` member as
    // zero (append after every program, no revision check).
    let fd = unsafe { bpf(BPF_LINK_CREATE, &mut attr) }?;
    // SAFETY: on success the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// The `query` member of `union bpf_attr`, up to `prog_cnt`.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_ifindex: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    /// Explicit, so that it is zero.
    padding: u32,
}

/// How many programs the TCX hook `attach_type` of interface `ifindex` holds.
pub(crate) fn tcx_query(ifindex: u32, attach_type: u32) -> io::Result<u32> {
    let mut attr = QueryAttr {
        target_ifindex: ifindex,
        attach_type,
        ..QueryAttr::default()
    };
    // SAFETY: BPF_PROG_QUERY takes `query`; with no `prog_ids` buffer the kernel only writes the
    // count, inside `attr`.
    unsafe { bpf(BPF_PROG_QUERY, &mut attr) }?;
    Ok(attr.prog_cnt)
}

/// Detaches the program of `link` now, even if other processes still hold copies of the
/// descriptor (as a child does between fork and exec).
pub(crate) fn link_detach(link: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = LinkDetachAttr {
        link_fd: link.as_raw_fd() as u32,
    };
    // SAFETY: BPF_LINK_DETACH takes `link_detach`.
    unsafe { bpf(BPF_LINK_DETACH, &mut attr) }.map(drop)
}

/// The `test` member of `union bpf_attr` (linux/bpf.h), up to `batch_size`.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    /// Explicit, so that it is zero: the kernel refuses nonzero bytes past the last field.
    tail_padding: u32,
}

/// The index of `interface` in the calling thread's network namespace.
pub(crate) fn if_nametoindex(interface: &str) -> io::Result<u32> {
    let name = CString::new(interface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in interface name"))?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(index)
    }
}

/// Runs program `prog` once over `data_in` (`BPF_PROG_TEST_RUN`). Returns the program's
/// return value and the length of the resulting frame, written to `data_out`.
pub(crate) fn prog_test_run(
    prog: BorrowedFd<'_>,
    data_in: &[u8],
    data_out: &mut [u8],
) -> io::Result<(u32, usize)> {
    let too_long = |_| io::Error::new(io::ErrorKind::InvalidInput, "buffer over 4 GiB");
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: data_in.len().try_into().map_err(too_long)?,
        data_size_out: data_out.len().try_into().map_err(too_long)?,
        data_in: data_in.as_ptr() as u64,
        data_out: data_out.as_mut_ptr() as u64,
        repeat: 1,
        ..TestRunAttr::default()
    };
    // SAFETY: BPF_PROG_TEST_RUN takes `test`; the kernel reads `data_size_in` bytes from
    // `data_in` and writes at most `data_size_out` bytes to `data_out`, both borrowed for the
    // whole call.
    unsafe { bpf(BPF_PROG_TEST_RUN, &mut attr) }?;
    Ok((attr.retval, attr.data_size_out as usize))
}
