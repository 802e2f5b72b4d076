//! Running setup code inside a network namespace. A namespace is joined per thread (`setns`), so
//! the work runs on a short-lived thread that joins it; sockets and links it creates stay in that
//! namespace after the thread ends, and any thread may use their file descriptors.

use std::fs::File;
use std::path::PathBuf;

/// Why a namespace could not be entered.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("open network namespace {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("setns({path}, CLONE_NEWNET): {source}")]
    Setns {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the thread running in network namespace {0} panicked")]
    Panicked(String),
}

/// `/run/netns/NAME` for a bare name, the path itself for an absolute path.
pub fn netns_path(netns: &str) -> PathBuf {
    if netns.starts_with('/') {
        PathBuf::from(netns)
    } else {
        PathBuf::from("/run/netns").join(netns)
    }
}

/// Runs `work` in network namespace `netns`, or right here when it is `None`.
pub fn run_in<T: Send>(
    netns: Option<&str>,
    work: impl FnOnce() -> T + Send,
) -> Result<T, NetnsError> {
    let Some(netns) = netns else {
        return Ok(work());
    };
    let path = netns_path(netns);
    let file = File::open(&path).map_err(|source| NetnsError::Open {
        path: path.clone(),
        source,
    })?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                // Changes only this (scoped, short-lived) thread's network namespace.
                fastlane_sys::ns::enter_network_namespace(&file).map_err(|source| {
                    NetnsError::Setns {
                        path: path.clone(),
                        source: source.into(),
                    }
                })?;
                Ok(work())
            })
            .join()
            .map_err(|_| NetnsError::Panicked(netns.to_string()))?
    })
}
