//! CPU pinning, with the one bounds check of the workspace.

use rustix::thread::CpuSet;

use crate::error::{SysError, SysResult};

/// Pins the calling thread to CPU `cpu`. A CPU number the kernel's set cannot hold is refused
/// with `EINVAL` before any call.
pub fn pin_current_thread(cpu: usize) -> SysResult<()> {
    if cpu >= CpuSet::MAX_CPU {
        return Err(SysError::new("sched_setaffinity", libc::EINVAL)
            .with_context(format!("CPU {cpu} is not below {}", CpuSet::MAX_CPU)));
    }
    let mut set = CpuSet::new();
    set.set(cpu);
    rustix::thread::sched_setaffinity(None, &set).map_err(|e| {
        SysError::new("sched_setaffinity", e.raw_os_error()).with_context(format!("CPU {cpu}"))
    })
}

/// The CPUs the calling thread may run on.
pub fn allowed_cpus() -> SysResult<Vec<usize>> {
    let set = rustix::thread::sched_getaffinity(None)
        .map_err(SysError::from_rustix("sched_getaffinity"))?;
    Ok((0..CpuSet::MAX_CPU)
        .filter(|&cpu| set.is_set(cpu))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPUs the calling thread may run on.
    fn allowed_cpus() -> Vec<usize> {
        let set = rustix::thread::sched_getaffinity(None).unwrap();
        (0..CpuSet::MAX_CPU)
            .filter(|&cpu| set.is_set(cpu))
            .collect()
    }

    #[test]
    fn a_cpu_past_the_set_is_refused_before_the_call() {
        let error = pin_current_thread(CpuSet::MAX_CPU).unwrap_err();
        assert_eq!(error.errno, libc::EINVAL);
        assert!(error.to_string().contains("is not below"), "{error}");
    }

    #[test]
    fn pinning_to_an_allowed_cpu_sticks() {
        let allowed = allowed_cpus();
        let last = *allowed.last().unwrap();
        std::thread::spawn(move || {
            pin_current_thread(last).unwrap();
            assert_eq!(allowed_cpus(), vec![last]);
        })
        .join()
        .unwrap();
    }
}
