//! Memory mappings: anonymous memory, shared file mappings (memfd UMEMs, shared-memory regions)
//! and the rings of AF_XDP and AF_PACKET sockets. A [`Mmap`] unmaps itself on drop.

use std::ffi::c_void;
use std::os::fd::AsFd;
use std::ptr::NonNull;

use rustix::mm::{MapFlags, ProtFlags};

use crate::error::{SysError, SysResult};

/// A read-write memory mapping, unmapped on drop.
#[derive(Debug)]
pub struct Mmap {
    addr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; sharing the pointer between threads is
// the owner's business (every user synchronises through the kernel's ring protocol or atomics).
unsafe impl Send for Mmap {}
// SAFETY: as above; `&Mmap` gives out only the address.
unsafe impl Sync for Mmap {}

impl Mmap {
    /// Private anonymous memory; `populate` faults it in now, so the data plane never faults.
    pub fn anonymous(len: usize, populate: bool) -> SysResult<Mmap> {
        let mut flags = MapFlags::PRIVATE;
        if populate {
            flags |= MapFlags::POPULATE;
        }
        // SAFETY: a fresh mapping the kernel places; it aliases no Rust object.
        let addr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                flags,
            )
        }
        .map_err(SysError::from_rustix("mmap(MAP_ANONYMOUS)"))?;
        Self::from_raw(addr, len)
    }

    /// `len` bytes of `fd` from byte `offset`, shared with every other mapping of it (a memfd, a
    /// socket's rings at their page offset); `populate` faults it in now.
    pub fn shared(fd: impl AsFd, len: usize, offset: u64, populate: bool) -> SysResult<Mmap> {
        let mut flags = MapFlags::SHARED;
        if populate {
            flags |= MapFlags::POPULATE;
        }
        // SAFETY: a fresh mapping the kernel places; it aliases no Rust object.
        let addr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                flags,
                fd,
                offset,
            )
        }
        .map_err(SysError::from_rustix("mmap(MAP_SHARED)"))?;
        Self::from_raw(addr, len)
    }

    fn from_raw(addr: *mut c_void, len: usize) -> SysResult<Mmap> {
        let addr = NonNull::new(addr.cast()).ok_or(SysError::new("mmap", libc::EINVAL))?;
        Ok(Mmap { addr, len })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: the mapping was made by this value with this length and nothing refers to it
        // any more (its owner is being dropped).
        let _ = unsafe { rustix::mm::munmap(self.addr.as_ptr().cast(), self.len) };
    }
}
