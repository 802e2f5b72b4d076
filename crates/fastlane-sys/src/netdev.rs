//! Network devices: index and address look-ups and the interface ioctls (`SIOC[GS]IF*`), all in
//! the calling thread's network namespace.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::error::{check, SysError, SysResult};

/// The index of interface `name` (`ENODEV` when there is none).
pub fn if_index(name: &str) -> SysResult<u32> {
    let cname = CString::new(name)
        .map_err(|_| SysError::new("if_nametoindex", libc::EINVAL).with_context(name))?;
    // SAFETY: `cname` is a NUL-terminated string that outlives the call.
    match unsafe { libc::if_nametoindex(cname.as_ptr()) } {
        0 => Err(SysError::last("if_nametoindex").with_context(name)),
        index => Ok(index),
    }
}

/// An `ifreq` naming `name`, refused unless it is 1 to `IFNAMSIZ - 1` bytes without NUL.
fn ifreq(call: &'static str, name: &str) -> SysResult<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(SysError::new(call, libc::EINVAL).with_context(format!("device name {name:?}")));
    }
    // SAFETY: ifreq is a name array and a union of plain data: all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in request.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    Ok(request)
}

/// A datagram socket that carries interface ioctls in the calling thread's namespace.
pub fn control_socket() -> SysResult<OwnedFd> {
    // SAFETY: plain arguments; the result is checked.
    let fd = check("socket(AF_INET, SOCK_DGRAM)", unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
    })?;
    // SAFETY: `fd` was just returned by socket() and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Issues interface ioctl `op` (named `call`) about `request`'s device.
fn interface_ioctl(
    control: BorrowedFd<'_>,
    call: &'static str,
    op: libc::c_ulong,
    request: &mut libc::ifreq,
) -> SysResult<()> {
    // The request's type is c_ulong on glibc and c_int on musl: libc::Ioctl names it.
    let op = op as libc::Ioctl;
    // SAFETY: every SIOC[GS]IF* request used here reads or writes one ifreq, which lives across
    // the call.
    let rc = unsafe { libc::ioctl(control.as_raw_fd(), op, request as *mut libc::ifreq) };
    check(call, rc).map(drop)
}

/// The index of `name` by ioctl (`ENODEV` when there is no such device).
pub fn interface_index(control: BorrowedFd<'_>, name: &str) -> SysResult<u32> {
    const CALL: &str = "ioctl(SIOCGIFINDEX)";
    let mut request = ifreq(CALL, name)?;
    interface_ioctl(control, CALL, libc::SIOCGIFINDEX, &mut request)?;
    // SAFETY: SIOCGIFINDEX succeeded, so it filled the index member of the union.
    Ok(unsafe { request.ifr_ifru.ifru_ifindex } as u32)
}

/// The Ethernet address of `name`.
pub fn hw_address(control: BorrowedFd<'_>, name: &str) -> SysResult<[u8; 6]> {
    const CALL: &str = "ioctl(SIOCGIFHWADDR)";
    let mut request = ifreq(CALL, name)?;
    interface_ioctl(control, CALL, libc::SIOCGIFHWADDR, &mut request)?;
    // SAFETY: SIOCGIFHWADDR succeeded, so it filled the hardware-address member of the union.
    let addr = unsafe { request.ifr_ifru.ifru_hwaddr };
    if addr.sa_family != libc::ARPHRD_ETHER {
        return Err(SysError::new(CALL, libc::EAFNOSUPPORT).with_context(name));
    }
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(addr.sa_data) {
        *dst = src as u8;
    }
    Ok(mac)
}

/// Sets the Ethernet address of `name`.
pub fn set_hw_address(control: BorrowedFd<'_>, name: &str, mac: [u8; 6]) -> SysResult<()> {
    const CALL: &str = "ioctl(SIOCSIFHWADDR)";
    let mut request = ifreq(CALL, name)?;
    // SAFETY: sockaddr is plain data: all zeroes is a valid value.
    let mut address: libc::sockaddr = unsafe { std::mem::zeroed() };
    address.sa_family = libc::ARPHRD_ETHER;
    for (dst, src) in address.sa_data.iter_mut().zip(mac) {
        *dst = src as libc::c_char;
    }
    request.ifr_ifru.ifru_hwaddr = address;
    interface_ioctl(control, CALL, libc::SIOCSIFHWADDR, &mut request)
}

/// Sets the MTU of `name`.
pub fn set_mtu(control: BorrowedFd<'_>, name: &str, mtu: u32) -> SysResult<()> {
    const CALL: &str = "ioctl(SIOCSIFMTU)";
    let mut request = ifreq(CALL, name)?;
    request.ifr_ifru.ifru_mtu = libc::c_int::try_from(mtu)
        .map_err(|_| SysError::new(CALL, libc::EINVAL).with_context(format!("MTU {mtu}")))?;
    interface_ioctl(control, CALL, libc::SIOCSIFMTU, &mut request)
}

/// The MTU of `name`.
pub fn mtu(control: BorrowedFd<'_>, name: &str) -> SysResult<u32> {
    const CALL: &str = "ioctl(SIOCGIFMTU)";
    let mut request = ifreq(CALL, name)?;
    interface_ioctl(control, CALL, libc::SIOCGIFMTU, &mut request)?;
    // SAFETY: SIOCGIFMTU succeeded, so it filled the MTU member of the union.
    Ok(unsafe { request.ifr_ifru.ifru_mtu }.max(0) as u32)
}

/// Brings `name` up, keeping its other flags.
pub fn set_up(control: BorrowedFd<'_>, name: &str) -> SysResult<()> {
    let mut request = ifreq("ioctl(SIOCGIFFLAGS)", name)?;
    interface_ioctl(
        control,
        "ioctl(SIOCGIFFLAGS)",
        libc::SIOCGIFFLAGS,
        &mut request,
    )?;
    // SAFETY: SIOCGIFFLAGS succeeded, so it filled the flags member of the union.
    let flags = unsafe { request.ifr_ifru.ifru_flags };
    request.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    interface_ioctl(
        control,
        "ioctl(SIOCSIFFLAGS)",
        libc::SIOCSIFFLAGS,
        &mut request,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn loopback_is_found_and_a_missing_device_is_named() {
        assert_eq!(if_index("lo").unwrap(), 1);
        let control = control_socket().unwrap();
        assert_eq!(interface_index(control.as_fd(), "lo").unwrap(), 1);
        let error = if_index("fl-no-such-dev").unwrap_err();
        assert_eq!(error.errno, libc::ENODEV);
        assert!(error.to_string().contains("fl-no-such-dev"), "{error}");
        let error = interface_index(control.as_fd(), "a-name-far-too-long").unwrap_err();
        assert_eq!(error.errno, libc::EINVAL);
    }
}
