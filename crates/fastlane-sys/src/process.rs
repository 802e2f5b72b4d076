//! Processes: whether one still runs.

use rustix::process::Pid;

/// Whether process `pid` still runs: it exists and is not a zombie (a killed child its parent has
/// not reaped yet is dead for our purposes).
pub fn process_alive(pid: u32) -> bool {
    let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    let probe = rustix::process::test_kill_process(raw);
    if probe == Err(rustix::io::Errno::SRCH) {
        return false;
    }
    // The state letter follows the command name, which ends at the last ')'.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next()),
            Some('Z' | 'X')
        ),
        Err(_) => matches!(probe, Ok(()) | Err(rustix::io::Errno::PERM)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_and_a_reaped_child_does_not() {
        assert!(process_alive(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_alive(pid));
    }

    #[test]
    fn a_set_with_any_capability_or_without_no_new_privs_is_not_none() {
        let none = CapabilitySets {
            effective: 0,
            permitted: 0,
            bounding: 0,
            ambient: 0,
            no_new_privs: true,
        };
        assert!(none.none());
        assert!(!CapabilitySets {
            ambient: 1 << 13,
            ..none
        }
        .none());
        assert!(!CapabilitySets {
            bounding: 1,
            ..none
        }
        .none());
        assert!(!CapabilitySets {
            no_new_privs: false,
            ..none
        }
        .none());
    }

    #[test]
    fn capability_sets_are_read_from_proc() {
        let caps = capability_sets().unwrap();
        // This process's own sets nest as the kernel keeps them.
        assert_eq!(caps.effective & !caps.permitted, 0, "{caps:?}");
        assert_eq!(caps.permitted & !caps.bounding, 0, "{caps:?}");
    }
}

/// The capability sets of the calling process (bit masks) and its `no_new_privs` flag, from
/// /proc/self/status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapabilitySets {
    pub effective: u64,
    pub permitted: u64,
    pub bounding: u64,
    pub ambient: u64,
    pub no_new_privs: bool,
}

impl CapabilitySets {
    /// No capability in any set, and `no_new_privs`: nothing this process runs can gain one.
    pub fn none(&self) -> bool {
        (self.effective, self.permitted, self.bounding, self.ambient) == (0, 0, 0, 0)
            && self.no_new_privs
    }
}

/// Reads the calling process's capability sets.
pub fn capability_sets() -> std::io::Result<CapabilitySets> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str, radix: u32| -> std::io::Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| u64::from_str_radix(value.trim(), radix).ok())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("/proc/self/status has no {name} line"),
                )
            })
    };
    Ok(CapabilitySets {
        effective: field("CapEff:", 16)?,
        permitted: field("CapPrm:", 16)?,
        bounding: field("CapBnd:", 16)?,
        ambient: field("CapAmb:", 16)?,
        no_new_privs: field("NoNewPrivs:", 10)? == 1,
    })
}

/// Makes the calling process what an unprivileged pod is: `no_new_privs`, an empty capability
/// bounding set, RLIMIT_MEMLOCK 0, no supplementary groups, and `uid`/`gid` (setting a non-zero
/// uid clears the permitted and effective sets). Process-wide: call it while single-threaded,
/// as root, in a process that is about to do only unprivileged work.
pub fn become_unprivileged(uid: u32, gid: u32) -> crate::SysResult<()> {
    use crate::error::check;
    // SAFETY: prctl with integer arguments only.
    check("prctl(PR_SET_NO_NEW_PRIVS)", unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    })?;
    for cap in 0..64 {
        // SAFETY: prctl with integer arguments only; EINVAL past the last capability ends it.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
        if rc < 0 {
            let error = crate::SysError::last("prctl(PR_CAPBSET_DROP)");
            if error.is(libc::EINVAL) {
                break;
            }
            return Err(error);
        }
    }
    rustix::process::setrlimit(
        rustix::process::Resource::Memlock,
        rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(crate::SysError::from_rustix("setrlimit(RLIMIT_MEMLOCK)"))?;
    // SAFETY: an empty group list.
    check("setgroups", unsafe { libc::setgroups(0, std::ptr::null()) })?;
    // SAFETY: plain integer arguments; libc's wrappers apply the change to every thread.
    check("setresgid", unsafe { libc::setresgid(gid, gid, gid) })?;
    // SAFETY: as above.
    check("setresuid", unsafe { libc::setresuid(uid, uid, uid) })?;
    Ok(())
}
