//! The unprivileged side: connects to the allocation's socket, sends the request and takes the
//! descriptors apart into what each backend's `adopt_thread` and the runtime's slow path take.
//! Needs no capability.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fastlane_afxdp::AfXdpExport;
use fastlane_core::{QueueSpec, Split};
use fastlane_sys::unix;
use fastlane_tap::TapExport;
use fastlane_xdp::XdpCountersFd;

use crate::protocol::{self, Grant, Reply, Request, ThreadGrant, XdpAttach, MAX_MESSAGE_BYTES};

/// Why the handoff failed. `Refused` carries the plugin's own words (which device, why).
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error(
        "cannot reach the device plugin at {path}: {source} (is the plugin running, and the \
         allocation's socket directory mounted?)"
    )]
    Connect {
        path: PathBuf,
        source: fastlane_sys::SysError,
    },
    #[error("the device plugin at {path} refused: {message}")]
    Refused { path: PathBuf, message: String },
    #[error("the device plugin at {path}: {message}")]
    Protocol { path: PathBuf, message: String },
}

/// One thread's descriptors.
#[derive(Debug)]
pub enum HandedThread {
    /// For `fastlane_afxdp::adopt_thread`: sockets already in their ports' XSKMAPs.
    AfXdp(AfXdpExport),
    /// For `fastlane_afpacket::adopt_thread`.
    AfPacket { sockets: Vec<OwnedFd>, split: Split },
}

/// One port's descriptors.
#[derive(Debug)]
pub struct HandedPort {
    /// af_xdp: the program's attach mode, its counters map (none when this process may not call
    /// bpf(2), as under a container runtime's default seccomp profile), and its link (held so
    /// that the program stays while this process lives).
    pub xdp: Option<(XdpAttach, Option<XdpCountersFd>, OwnedFd)>,
    /// af_packet: the tc program's link, held likewise.
    pub tc_link: Option<OwnedFd>,
    pub tap: Option<TapExport>,
}

/// Everything the plugin handed over. `session` is this side's end of the connection: the
/// plugin holds the session (its programs) while it is open.
#[derive(Debug)]
pub struct Handed {
    pub session: OwnedFd,
    pub threads: Vec<HandedThread>,
    pub ports: Vec<HandedPort>,
}

/// Asks the plugin at `socket` for `request`, waiting at most `timeout` for its answer.
pub fn request_handoff(
    socket: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Handed, HandoffError> {
    let path = socket.to_path_buf();
    let protocol_error = |message: String| HandoffError::Protocol {
        path: path.clone(),
        message,
    };
    let session = unix::seqpacket_connect(socket).map_err(|source| HandoffError::Connect {
        path: path.clone(),
        source,
    })?;
    let bytes = protocol::encode(request).map_err(protocol_error)?;
    unix::send_fds(&session, &bytes, &[]).map_err(|e| protocol_error(e.to_string()))?;
    let mut buffer = vec![0u8; MAX_MESSAGE_BYTES];
    let (len, descriptors) =
        unix::recv_fds_within(&session, &mut buffer, unix::MAX_FDS_PER_MESSAGE, timeout)
            .map_err(|e| protocol_error(format!("waiting for the reply: {e}")))?;
    let reply: Reply = protocol::decode(&buffer[..len]).map_err(protocol_error)?;
    let grant = match reply {
        Reply::Refused { error, .. } => {
            return Err(HandoffError::Refused {
                path,
                message: error,
            })
        }
        Reply::Granted { grant, .. } => grant,
    };
    let (threads, ports) = take_apart(request, grant, descriptors).map_err(protocol_error)?;
    Ok(Handed {
        session,
        threads,
        ports,
    })
}

/// Splits the descriptors by the grant, checking that the grant answers the request.
fn take_apart(
    request: &Request,
    grant: Grant,
    descriptors: Vec<OwnedFd>,
) -> Result<(Vec<HandedThread>, Vec<HandedPort>), String> {
    if grant.threads.len() != request.threads.len() || grant.ports.len() != request.ports.len() {
        return Err(format!(
            "the grant has {} threads and {} ports for a request of {} and {}",
            grant.threads.len(),
            grant.ports.len(),
            request.threads.len(),
            request.ports.len()
        ));
    }
    let expected = grant.descriptor_count(request);
    if descriptors.len() != expected {
        return Err(format!(
            "{} descriptors came with a grant of {expected}",
            descriptors.len()
        ));
    }
    let mut fds = descriptors.into_iter();
    let mut take = |n: usize| -> Vec<OwnedFd> { fds.by_ref().take(n).collect() };
    let mut threads = Vec::new();
    for (thread, queues) in grant.threads.iter().zip(&request.threads) {
        let specs: Vec<QueueSpec> = queues
            .iter()
            .map(|q| QueueSpec {
                port: q.port,
                interface: request.ports[q.port as usize].interface.clone(),
                queue: q.queue,
            })
            .collect();
        threads.push(match *thread {
            ThreadGrant::AfXdp { layout } => {
                let export = AfXdpExport::from_fds(layout.into(), specs, take(1 + queues.len()))
                    .map_err(|e| e.to_string())?;
                HandedThread::AfXdp(export)
            }
            ThreadGrant::AfPacket { split_in_kernel } => HandedThread::AfPacket {
                sockets: take(queues.len()),
                split: if split_in_kernel {
                    Split::InKernel
                } else {
                    Split::Shared
                },
            },
        });
    }
    let mut ports = Vec::new();
    for (grant, port) in grant.ports.into_iter().zip(&request.ports) {
        let xdp = match grant.xdp {
            Some(attach) => {
                let mut pair = take(2).into_iter();
                let (Some(counters), Some(link)) = (pair.next(), pair.next()) else {
                    return Err("missing the XDP program's descriptors".into());
                };
                // Under a container runtime's default seccomp profile bpf(2) needs
                // CAP_SYS_ADMIN: such a pod runs without the split's counters rather than not at
                // all.
                let counters = match XdpCountersFd::adopt(counters) {
                    Ok(counters) => Some(counters),
                    Err(e) if e.errno == libc::EPERM => None,
                    Err(e) => return Err(format!("{}: the XDP counters map: {e}", port.interface)),
                };
                Some((attach, counters, link))
            }
            None => None,
        };
        let tc_link = if grant.tc_link { take(1).pop() } else { None };
        let tap = grant.tap.map(|tap| TapExport {
            name: tap.name,
            mtu: tap.mtu,
            queues: take(port.queues.len()),
        });
        ports.push(HandedPort { xdp, tc_link, tap });
    }
    Ok((threads, ports))
}
