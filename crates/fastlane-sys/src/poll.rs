//! Waiting for descriptors to become readable.

use crate::error::{SysError, SysResult};

/// `poll(fds, timeout_ms)`: how many descriptors have events; an interrupted wait (EINTR) counts
/// as none.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> SysResult<usize> {
    // SAFETY: `fds` is a valid, exclusively borrowed array of its stated length.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if rc >= 0 {
        return Ok(rc as usize);
    }
    let error = SysError::last("poll");
    if error.is(libc::EINTR) {
        Ok(0)
    } else {
        Err(error)
    }
}
