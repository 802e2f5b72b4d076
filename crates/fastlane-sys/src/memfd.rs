//! Anonymous files that can be mapped by several processes: memfds, their size, and regular files
//! used the same way (shared-memory regions under /dev/shm).

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{MemfdFlags, Mode, OFlags};

use crate::error::{SysError, SysResult};

/// `memfd_create(name, MFD_CLOEXEC)`: an anonymous file; `name` is only a label in /proc.
pub fn memfd_create(name: &str) -> SysResult<OwnedFd> {
    rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC)
        .map_err(|e| SysError::new("memfd_create", e.raw_os_error()).with_context(name))
}

/// A memfd of `len` bytes.
pub fn memfd_of_size(name: &str, len: u64) -> SysResult<OwnedFd> {
    let fd = memfd_create(name)?;
    set_len(fd.as_fd(), len)?;
    Ok(fd)
}

/// `ftruncate(fd, len)`.
pub fn set_len(fd: impl AsFd, len: u64) -> SysResult<()> {
    rustix::fs::ftruncate(fd, len).map_err(SysError::from_rustix("ftruncate"))
}

/// The size of the file behind `fd` (`fstat`).
pub fn file_size(fd: impl AsFd) -> SysResult<u64> {
    let stat = rustix::fs::fstat(fd).map_err(SysError::from_rustix("fstat"))?;
    Ok(stat.st_size as u64)
}

/// `open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW [| O_CREAT | O_EXCL], 0600)`.
pub fn open_rw(path: &str, create_new: bool) -> SysResult<OwnedFd> {
    let mut flags = OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW;
    if create_new {
        flags |= OFlags::CREATE | OFlags::EXCL;
    }
    rustix::fs::open(path, flags, Mode::RUSR | Mode::WUSR)
        .map_err(|e| SysError::new("open", e.raw_os_error()).with_context(path))
}

/// `unlink(path)`.
pub fn unlink(path: &str) -> SysResult<()> {
    rustix::fs::unlink(path)
        .map_err(|e| SysError::new("unlink", e.raw_os_error()).with_context(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmap::Mmap;

    #[test]
    fn two_mappings_of_one_memfd_see_each_others_writes() {
        let fd = memfd_of_size("fastlane-sys-test", 8192).unwrap();
        assert_eq!(file_size(&fd).unwrap(), 8192);
        let a = Mmap::shared(&fd, 8192, 0, false).unwrap();
        let b = Mmap::shared(&fd, 8192, 0, true).unwrap();
        assert_ne!(a.as_ptr(), b.as_ptr());
        // SAFETY: both mappings are 8192 bytes long and live; byte 4097 lies inside them.
        unsafe {
            a.as_ptr().add(4097).write(0xa5);
            assert_eq!(b.as_ptr().add(4097).read(), 0xa5);
        }
    }

    #[test]
    fn a_name_with_nul_is_refused_naming_the_call() {
        let error = memfd_create("bad\0name").unwrap_err();
        assert_eq!(error.call, "memfd_create");
        assert_eq!(error.errno, libc::EINVAL);
    }
}
