//! The one error type of the system-call layer: which call failed, with which errno, about what.

use std::fmt;
use std::io;

/// A failed system call: its name (with the option, ioctl or bpf command where one call does many
/// things, e.g. `setsockopt(XDP_RX_RING)` or `bpf(BPF_LINK_CREATE)`), the kernel's errno, and
/// where there is one, more context (the verifier log, a path, a name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysError {
    pub call: &'static str,
    pub errno: i32,
    pub context: Option<String>,
}

/// The result of a call of this crate.
pub type SysResult<T> = Result<T, SysError>;

impl SysError {
    pub fn new(call: &'static str, errno: i32) -> SysError {
        SysError {
            call,
            errno,
            context: None,
        }
    }

    /// The error of `call` from the calling thread's `errno`, right after the call failed.
    pub fn last(call: &'static str) -> SysError {
        SysError::new(call, io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    /// The same error with `context` (a path, a name, a verifier log) attached.
    pub fn with_context(mut self, context: impl Into<String>) -> SysError {
        self.context = Some(context.into());
        self
    }

    pub(crate) fn from_rustix(call: &'static str) -> impl FnOnce(rustix::io::Errno) -> SysError {
        move |errno| SysError::new(call, errno.raw_os_error())
    }

    /// Whether the call failed with `errno`.
    pub fn is(&self, errno: i32) -> bool {
        self.errno == errno
    }
}

impl fmt::Display for SysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = io::Error::from_raw_os_error(self.errno);
        write!(f, "{}: {text}", self.call)?;
        if let Some(context) = &self.context {
            write!(f, "; {context}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SysError {}

/// For crates whose errors carry an `io::Error`: the errno survives (`raw_os_error`), so callers
/// that branch on it keep working.
impl From<SysError> for io::Error {
    fn from(error: SysError) -> io::Error {
        io::Error::from_raw_os_error(error.errno)
    }
}

/// `rc` when it is not negative, else the error of `call` from `errno`.
pub(crate) fn check(call: &'static str, rc: libc::c_int) -> SysResult<libc::c_int> {
    if rc < 0 {
        Err(SysError::last(call))
    } else {
        Ok(rc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_call_and_the_errno_text() {
        let error = SysError::new("setsockopt(XDP_UMEM_REG)", libc::ENOMEM);
        let text = error.to_string();
        assert!(text.starts_with("setsockopt(XDP_UMEM_REG): "), "{text}");
        assert!(text.contains("Cannot allocate memory"), "{text}");
        assert!(text.contains("os error 12"), "{text}");
        let with_log = SysError::new("bpf(BPF_PROG_LOAD)", libc::EACCES)
            .with_context("verifier log: R1 invalid mem access");
        let text = with_log.to_string();
        assert!(
            text.contains("bpf(BPF_PROG_LOAD): Permission denied"),
            "{text}"
        );
        assert!(
            text.ends_with("; verifier log: R1 invalid mem access"),
            "{text}"
        );
    }

    #[test]
    fn the_errno_survives_conversion_to_io_error() {
        let error: io::Error = SysError::new("bind(AF_XDP)", libc::EBUSY).into();
        assert_eq!(error.raw_os_error(), Some(libc::EBUSY));
    }

    #[test]
    fn a_failed_call_reports_its_errno() {
        // SAFETY: close of a descriptor number that is never open in a process (above the limit).
        let rc = unsafe { libc::close(i32::MAX) };
        let error = check("close", rc).unwrap_err();
        assert_eq!(error.errno, libc::EBADF);
        assert_eq!(error.call, "close");
    }
}
