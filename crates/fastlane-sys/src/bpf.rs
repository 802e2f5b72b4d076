//! bpf(2), in one place: one entry point, [`sys_bpf`], taking a command and the member of
//! `union bpf_attr` that the command reads, and the safe calls built on it. Programs are loaded by
//! aya (which keeps the verifier log); this module holds what aya does not do the way Fastlane
//! needs: bpf_links for XDP and TCX, TCX queries, test runs, and map access by a passed fd.

use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::error::{SysError, SysResult};

/// The bpf(2) commands used here (`enum bpf_cmd` of linux/bpf.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum BpfCmd {
    MapLookupElem = 1,
    MapUpdateElem = 2,
    ProgTestRun = 10,
    ObjGetInfoByFd = 15,
    ProgQuery = 16,
    LinkCreate = 28,
    LinkDetach = 34,
}

impl BpfCmd {
    /// The call's name in errors.
    pub fn call(self) -> &'static str {
        match self {
            BpfCmd::MapLookupElem => "bpf(BPF_MAP_LOOKUP_ELEM)",
            BpfCmd::MapUpdateElem => "bpf(BPF_MAP_UPDATE_ELEM)",
            BpfCmd::ProgTestRun => "bpf(BPF_PROG_TEST_RUN)",
            BpfCmd::ObjGetInfoByFd => "bpf(BPF_OBJ_GET_INFO_BY_FD)",
            BpfCmd::ProgQuery => "bpf(BPF_PROG_QUERY)",
            BpfCmd::LinkCreate => "bpf(BPF_LINK_CREATE)",
            BpfCmd::LinkDetach => "bpf(BPF_LINK_DETACH)",
        }
    }
}

/// A member of `union bpf_attr`: repr(C), with no implicit padding (the kernel refuses nonzero
/// bytes it does not know, so every padding byte is an explicit zero field).
///
/// # Safety
///
/// Implementors are repr(C) prefixes of a `union bpf_attr` member with no implicit padding.
unsafe trait BpfAttr {}

/// `bpf(cmd, attr, sizeof attr)`: the one place this workspace enters bpf(2).
///
/// # Safety
///
/// `attr` must be the member of `union bpf_attr` that `cmd` reads, and every pointer in it must
/// be valid for what the kernel does with it during the call.
unsafe fn sys_bpf<A: BpfAttr>(cmd: BpfCmd, attr: &mut A) -> SysResult<libc::c_long> {
    // SAFETY: the caller vouches for `attr`; the size passed is its own.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_int,
            attr as *mut A,
            size_of::<A>() as libc::c_uint,
        )
    };
    if rc < 0 {
        Err(SysError::last(cmd.call()))
    } else {
        Ok(rc)
    }
}

/// `BPF_XDP` of `enum bpf_attach_type`.
const BPF_XDP: u32 = 37;
/// `BPF_TCX_INGRESS` of `enum bpf_attach_type`.
pub const BPF_TCX_INGRESS: u32 = 46;
/// XDP attach flags (`XDP_FLAGS_*` of linux/if_link.h).
pub const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
pub const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
/// `BPF_MAP_TYPE_PERCPU_ARRAY`.
pub const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
/// `BPF_MAP_TYPE_XSKMAP`.
pub const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// The start of the `link_create` member (the XDP and TCX forms, `tcx` left zero).
#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
}
// SAFETY: four u32s, a prefix of `link_create`.
unsafe impl BpfAttr for LinkCreateAttr {}

/// The `link_detach` member.
#[repr(C)]
struct LinkDetachAttr {
    link_fd: u32,
}
// SAFETY: one u32, the `link_detach` member.
unsafe impl BpfAttr for LinkDetachAttr {}

/// The `query` member, up to `prog_cnt`.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_ifindex: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    padding: u32,
}
// SAFETY: a prefix of `query` with its tail padding explicit.
unsafe impl BpfAttr for QueryAttr {}

/// The `test` member, up to `batch_size`.
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
    padding: u32,
}
// SAFETY: a prefix of `test` with its tail padding explicit.
unsafe impl BpfAttr for TestRunAttr {}

/// The element members (`map_fd`, `key`, `value`, `flags`).
#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    padding: u32,
    key: u64,
    value: u64,
    flags: u64,
}
// SAFETY: the element member with its padding explicit.
unsafe impl BpfAttr for MapElemAttr {}

/// The `info` member (BPF_OBJ_GET_INFO_BY_FD).
#[repr(C)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}
// SAFETY: the `info` member, no padding.
unsafe impl BpfAttr for InfoAttr {}

/// `struct xdp_md`, the context a test run starts from.
#[repr(C)]
#[derive(Default)]
struct XdpMd {
    data: u32,
    data_end: u32,
    data_meta: u32,
    ingress_ifindex: u32,
    rx_queue_index: u32,
    egress_ifindex: u32,
}

fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: a successful BPF_LINK_CREATE returned a new descriptor nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) }
}

fn len_u32(len: usize) -> SysResult<u32> {
    u32::try_from(len).map_err(|_| SysError::new("bpf", libc::E2BIG))
}

/// Attaches XDP program `prog` to interface `ifindex` (of the calling thread's namespace) with a
/// bpf_link; `flags` picks the mode. The program stays attached while the link lives.
pub fn xdp_link_create(prog: BorrowedFd<'_>, ifindex: u32, flags: u32) -> SysResult<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type: BPF_XDP,
        flags,
    };
    // SAFETY: BPF_LINK_CREATE reads `link_create`, of which `attr` is the XDP prefix.
    unsafe { sys_bpf(BpfCmd::LinkCreate, &mut attr) }.map(owned)
}

/// Attaches tc program `prog` to TCX hook `attach_type` of `ifindex`, after the programs already
/// there. The program stays attached while the link lives.
pub fn tcx_link_create(prog: BorrowedFd<'_>, ifindex: u32, attach_type: u32) -> SysResult<OwnedFd> {
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type,
        flags: 0,
    };
    // SAFETY: BPF_LINK_CREATE reads `link_create`; the missing `tcx` member reads as zero
    // (append after every program, no revision check).
    unsafe { sys_bpf(BpfCmd::LinkCreate, &mut attr) }.map(owned)
}

/// How many programs TCX hook `attach_type` of `ifindex` holds.
pub fn tcx_query(ifindex: u32, attach_type: u32) -> SysResult<u32> {
    let mut attr = QueryAttr {
        target_ifindex: ifindex,
        attach_type,
        ..QueryAttr::default()
    };
    // SAFETY: BPF_PROG_QUERY reads `query`; with no `prog_ids` buffer the kernel writes only the
    // count, inside `attr`.
    unsafe { sys_bpf(BpfCmd::ProgQuery, &mut attr) }?;
    Ok(attr.prog_cnt)
}

/// Detaches the program of `link` now, even while other processes hold copies of the descriptor.
pub fn link_detach(link: BorrowedFd<'_>) -> SysResult<()> {
    let mut attr = LinkDetachAttr {
        link_fd: link.as_raw_fd() as u32,
    };
    // SAFETY: BPF_LINK_DETACH reads `link_detach`.
    unsafe { sys_bpf(BpfCmd::LinkDetach, &mut attr) }.map(drop)
}

/// Runs program `prog` once over `data_in`; returns its return value and the length of the
/// resulting packet, written to `data_out`.
pub fn prog_test_run(
    prog: BorrowedFd<'_>,
    data_in: &[u8],
    data_out: &mut [u8],
) -> SysResult<(u32, usize)> {
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: len_u32(data_in.len())?,
        data_size_out: len_u32(data_out.len())?,
        data_in: data_in.as_ptr() as u64,
        data_out: data_out.as_mut_ptr() as u64,
        repeat: 1,
        ..TestRunAttr::default()
    };
    // SAFETY: BPF_PROG_TEST_RUN reads `test`; the kernel reads `data_size_in` bytes of `data_in`
    // and writes at most `data_size_out` bytes to `data_out`, both borrowed across the call.
    unsafe { sys_bpf(BpfCmd::ProgTestRun, &mut attr) }?;
    Ok((attr.retval, attr.data_size_out as usize))
}

/// Runs XDP program `prog` `repeat` times over `frame` in live-frames mode (redirects leave for
/// real), as if the frame had arrived on queue 0 of `ifindex`.
pub fn xdp_run_live(
    prog: BorrowedFd<'_>,
    frame: &[u8],
    ifindex: u32,
    repeat: u32,
) -> SysResult<()> {
    let mut ctx = XdpMd {
        data_end: len_u32(frame.len())?,
        ingress_ifindex: ifindex,
        ..XdpMd::default()
    };
    let mut attr = TestRunAttr {
        prog_fd: prog.as_raw_fd() as u32,
        data_size_in: len_u32(frame.len())?,
        data_in: frame.as_ptr() as u64,
        repeat,
        ctx_size_in: size_of::<XdpMd>() as u32,
        ctx_in: &mut ctx as *mut XdpMd as u64,
        flags: BPF_F_TEST_XDP_LIVE_FRAMES,
        ..TestRunAttr::default()
    };
    // SAFETY: BPF_PROG_TEST_RUN reads `test`; `frame` and `ctx` outlive the call and their sizes
    // are the ones passed.
    unsafe { sys_bpf(BpfCmd::ProgTestRun, &mut attr) }.map(drop)
}

/// Reads the value of `key` from `map` into `value`, whose length must be the map's value size
/// (times the possible CPUs for per-CPU maps).
pub fn map_lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> SysResult<()> {
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        padding: 0,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        flags: 0,
    };
    // SAFETY: BPF_MAP_LOOKUP_ELEM reads the key and writes the map's value size into `value`;
    // the caller sized both for this map (the kernel reads/writes exactly the map's sizes, which
    // `map_info` lets a caller check first).
    unsafe { sys_bpf(BpfCmd::MapLookupElem, &mut attr) }.map(drop)
}

/// What a map is (the start of `struct bpf_map_info`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C)]
pub struct MapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
}

/// The type and sizes of the map behind `map` (for checking a descriptor someone passed).
pub fn map_info(map: BorrowedFd<'_>) -> SysResult<MapInfo> {
    let mut info = MapInfo::default();
    let mut attr = InfoAttr {
        bpf_fd: map.as_raw_fd() as u32,
        info_len: size_of::<MapInfo>() as u32,
        info: &mut info as *mut MapInfo as u64,
    };
    // SAFETY: BPF_OBJ_GET_INFO_BY_FD writes at most `info_len` bytes into `info`.
    unsafe { sys_bpf(BpfCmd::ObjGetInfoByFd, &mut attr) }?;
    Ok(info)
}

/// Puts AF_XDP socket `socket` at index `queue` of XSKMAP `map`, so that the XDP program
/// redirects that queue's frames to it. Needs no capability on a passed map fd.
pub fn xskmap_insert(map: BorrowedFd<'_>, queue: u32, socket: BorrowedFd<'_>) -> SysResult<()> {
    const CALL: &str = "bpf(BPF_MAP_UPDATE_ELEM)";
    let info = map_info(map)?;
    if info.map_type != BPF_MAP_TYPE_XSKMAP || info.key_size != 4 || info.value_size != 4 {
        return Err(SysError::new(CALL, libc::EINVAL).with_context(format!(
            "map type {} with {}-byte keys and {}-byte values is not an XSKMAP",
            info.map_type, info.key_size, info.value_size
        )));
    }
    let key = queue;
    let value = socket.as_raw_fd() as u32;
    let mut attr = MapElemAttr {
        map_fd: map.as_raw_fd() as u32,
        padding: 0,
        key: &key as *const u32 as u64,
        value: &value as *const u32 as u64,
        flags: 0,
    };
    // SAFETY: BPF_MAP_UPDATE_ELEM reads key_size and value_size bytes (4 and 4, checked above)
    // from `key` and `value`, which live across the call.
    unsafe { sys_bpf(BpfCmd::MapUpdateElem, &mut attr) }.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_that_is_no_xskmap_is_refused() {
        let not_a_map = crate::memfd::memfd_create("not-a-map").unwrap();
        let socket = crate::memfd::memfd_create("not-a-socket").unwrap();
        let error = xskmap_insert(
            std::os::fd::AsFd::as_fd(&not_a_map),
            0,
            std::os::fd::AsFd::as_fd(&socket),
        )
        .unwrap_err();
        assert_eq!(error.call, "bpf(BPF_OBJ_GET_INFO_BY_FD)");
    }

    #[test]
    fn errors_name_the_command() {
        let not_a_link = crate::memfd::memfd_create("not-a-link").unwrap();
        let error = link_detach(std::os::fd::AsFd::as_fd(&not_a_link)).unwrap_err();
        assert_eq!(error.call, "bpf(BPF_LINK_DETACH)");
        assert!(
            error.to_string().starts_with("bpf(BPF_LINK_DETACH): "),
            "{error}"
        );
    }
}
