//! Socket options that rustix does not name (busy polling, packet-socket options, netlink
//! flags): plain `setsockopt`/`getsockopt` of a `Copy` value, with the option's name in errors.

use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::error::{check, SysError, SysResult};

/// Socket options that the `libc` crate defines only for some architectures (asm-generic values,
/// which x86, arm and riscv use).
pub const SO_BUSY_POLL: libc::c_int = 46;
pub const SO_PREFER_BUSY_POLL: libc::c_int = 69;
pub const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// `setsockopt(fd, level, name, &value, sizeof value)`; `call` names it in errors, e.g.
/// `"setsockopt(PACKET_RX_RING)"`.
///
/// # Safety
///
/// `T` must be the type the kernel reads for option `name` at `level` (or a prefix of it that
/// the kernel accepts), with no padding bytes the kernel would misread.
pub unsafe fn set<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    call: &'static str,
    name: libc::c_int,
    value: &T,
) -> SysResult<()> {
    // SAFETY: `value` points to a live `T` whose size is passed along; the kernel only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    check(call, rc).map(drop)
}

/// An integer option.
pub fn set_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    call: &'static str,
    name: libc::c_int,
    value: libc::c_int,
) -> SysResult<()> {
    // SAFETY: integer options read one c_int.
    unsafe { set(fd, level, call, name, &value) }
}

/// `getsockopt(fd, level, name)` into a zeroed `T`; also returns the length the kernel wrote
/// (older kernels write shorter versions of some structures).
///
/// # Safety
///
/// `T` must be plain integers (all-zero is a value) that the kernel fills for option `name`.
pub unsafe fn get<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    call: &'static str,
    name: libc::c_int,
) -> SysResult<(T, usize)> {
    let mut value = MaybeUninit::<T>::zeroed();
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `value`, which has room for them.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            value.as_mut_ptr().cast(),
            &mut len,
        )
    };
    check(call, rc)?;
    // SAFETY: the caller vouches that all-zero is a valid `T`; the kernel may have overwritten a
    // prefix of it with another valid value.
    Ok((unsafe { value.assume_init() }, len as usize))
}

/// A `get` that must fill the whole `T`.
///
/// # Safety
///
/// As for [`get`].
pub unsafe fn get_full<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    call: &'static str,
    name: libc::c_int,
) -> SysResult<T> {
    // SAFETY: the caller's promise is the one `get` needs.
    let (value, len) = unsafe { get::<T>(fd, level, call, name) }?;
    if len < size_of::<T>() {
        return Err(SysError::new(call, libc::EINVAL).with_context(format!(
            "the kernel wrote {len} of {} bytes",
            size_of::<T>()
        )));
    }
    Ok(value)
}
