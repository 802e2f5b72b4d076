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
}
