//! Watching a namespace's neighbour and route tables over rtnetlink, for applications whose fast
//! path sends to next hops the kernel resolves (a UPF's gNBs and N6 gateway): the table as a
//! snapshot, then each change, on a thread of the watcher's own; route lookups and resolution
//! requests (`NTF_USE`) answered on the caller's thread. The sockets are made inside the
//! namespace and stay bound to it, so no thread has to live there.

use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use fastlane_core::netns::{self, NetnsError};
use fastlane_sys::netlink::{self, neighbour, route};
use fastlane_sys::{netdev, SysError};

pub use neighbour::Neighbour;
pub use route::RouteTo;

/// How long a request waits for the kernel, and how often the watching thread looks at its stop
/// flag.
const TIMEOUT: Duration = Duration::from_millis(250);
/// A lookup or resolution request gives up after this many timeouts without an answer.
const REQUEST_TRIES: u32 = 8;
/// Room for one notification datagram (the kernel sends at most a page of messages per
/// datagram in a dump, usually; 32 KiB leaves room for large pages).
const DATAGRAM: usize = 32 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("watching neighbours: {0}")]
    Sys(#[from] SysError),
    #[error("watching neighbours: the kernel's dump does not parse")]
    Malformed,
    #[error("no route to {destination}: {source}")]
    NoRoute {
        destination: IpAddr,
        source: SysError,
    },
}

/// What the watching thread reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The whole table: first, and again whenever notifications were lost (the socket's buffer
    /// overflowed): replaces everything known before.
    Snapshot(Vec<Neighbour>),
    /// One entry added, changed or removed.
    Neighbour { removed: bool, neighbour: Neighbour },
    /// A route was added or removed: lookups made before may be stale.
    RoutesChanged,
    /// Watching stopped for this reason; no event follows.
    Failed(String),
}

/// A running watcher; dropping it (or [`NeighbourWatcher::stop`]) joins its thread.
#[derive(Debug)]
pub struct NeighbourWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// For lookups and resolution requests: a socket of its own, so answers never mix with
    /// notifications.
    requests: Mutex<OwnedFd>,
    control: OwnedFd,
    seq: AtomicU32,
}

impl NeighbourWatcher {
    /// Starts watching namespace `netns` (`None`: the caller's). The table's first snapshot is
    /// read before this returns (so a failure is an error here) and is the first event.
    pub fn start(
        netns: Option<&str>,
        mut on_event: impl FnMut(WatchEvent) + Send + 'static,
    ) -> Result<NeighbourWatcher, WatchError> {
        let groups =
            netlink::RTMGRP_NEIGH | netlink::RTMGRP_IPV4_ROUTE | netlink::RTMGRP_IPV6_ROUTE;
        let (watch, requests, control) = netns::run_in(netns, || -> Result<_, SysError> {
            Ok((
                netlink::subscribed_socket(groups, TIMEOUT)?,
                netlink::route_socket(TIMEOUT)?,
                netdev::control_socket()?,
            ))
        })??;
        let mut seq = 1;
        let snapshot = dump(&watch, seq)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("fl-neighbours".into())
            .spawn(move || {
                on_event(WatchEvent::Snapshot(snapshot));
                let mut datagram = vec![0u8; DATAGRAM];
                while !stopping.load(Ordering::Relaxed) {
                    match netlink::receive(watch.as_fd(), &mut datagram) {
                        Ok(len) => {
                            let bytes = &datagram[..len];
                            match neighbour::parse(0, bytes) {
                                Some(part) => {
                                    for change in part.changes {
                                        on_event(WatchEvent::Neighbour {
                                            removed: change.removed,
                                            neighbour: change.neighbour,
                                        });
                                    }
                                }
                                None => log::warn!("a neighbour notification does not parse"),
                            }
                            if route::has_route_change(bytes) {
                                on_event(WatchEvent::RoutesChanged);
                            }
                        }
                        Err(e) if e.is(libc::EAGAIN) || e.is(libc::EINTR) => {}
                        Err(e) if e.is(libc::ENOBUFS) => {
                            // Notifications were lost: read the table again.
                            seq += 1;
                            match dump(&watch, seq) {
                                Ok(table) => {
                                    on_event(WatchEvent::Snapshot(table));
                                    on_event(WatchEvent::RoutesChanged);
                                }
                                Err(e) => return on_event(WatchEvent::Failed(e.to_string())),
                            }
                        }
                        Err(e) => return on_event(WatchEvent::Failed(e.to_string())),
                    }
                }
            })
            .map_err(|e| SysError::new("pthread_create", e.raw_os_error().unwrap_or(0)))?;
        Ok(NeighbourWatcher {
            stop,
            thread: Some(thread),
            requests: Mutex::new(requests),
            control,
            seq: AtomicU32::new(1),
        })
    }

    fn next_seq(&self) -> u32 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// The route the kernel would take to `destination`, as `ip route get`.
    pub fn route(&self, destination: IpAddr) -> Result<RouteTo, WatchError> {
        let socket = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let seq = self.next_seq();
        let no_route = |source: SysError| WatchError::NoRoute {
            destination,
            source,
        };
        netlink::send_to_kernel(socket.as_fd(), &route::lookup_request(seq, destination))
            .map_err(no_route)?;
        let mut datagram = vec![0u8; 4096];
        let mut waited = 0;
        loop {
            let len = match netlink::receive(socket.as_fd(), &mut datagram) {
                Ok(len) => len,
                Err(e) if e.is(libc::EAGAIN) && waited < REQUEST_TRIES => {
                    waited += 1;
                    continue;
                }
                Err(e) => return Err(no_route(e)),
            };
            match route::parse_lookup(seq, destination, &datagram[..len]) {
                Some(Some(route::Lookup::Route(route))) => return Ok(route),
                Some(Some(route::Lookup::Refused(errno))) => {
                    return Err(no_route(SysError::new("RTM_GETROUTE", errno)))
                }
                Some(None) => continue,
                None => {
                    return Err(no_route(
                        SysError::new("RTM_GETROUTE", libc::EBADMSG)
                            .with_context("malformed answer"),
                    ))
                }
            }
        }
    }

    /// The main table's default routes (IPv4 and IPv6), as routes to the unspecified address.
    pub fn default_routes(&self) -> Result<Vec<RouteTo>, WatchError> {
        let socket = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let seq = self.next_seq();
        netlink::send_to_kernel(socket.as_fd(), &route::dump_request(seq))?;
        let mut datagram = vec![0u8; DATAGRAM];
        let mut routes = Vec::new();
        let mut waited = 0;
        loop {
            let len = match netlink::receive(socket.as_fd(), &mut datagram) {
                Ok(len) => len,
                Err(e) if e.is(libc::EAGAIN) && waited < REQUEST_TRIES => {
                    waited += 1;
                    continue;
                }
                Err(e) => return Err(WatchError::Sys(e.with_context("RTM_GETROUTE dump"))),
            };
            let part =
                route::parse_default_routes(seq, &datagram[..len]).ok_or(WatchError::Malformed)?;
            routes.extend(part.routes);
            if let Some(errno) = part.refused {
                return Err(WatchError::Sys(SysError::new("RTM_GETROUTE dump", errno)));
            }
            if part.done {
                return Ok(routes);
            }
        }
    }

    /// Sets the main table's default route of `gateway`'s family to go through `gateway` on
    /// interface `index`, replacing one that is there (`ip route replace default via … dev …`).
    pub fn replace_default_route(&self, gateway: IpAddr, index: u32) -> Result<(), SysError> {
        let socket = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let seq = self.next_seq();
        netlink::request_acknowledged(
            socket.as_fd(),
            "RTM_NEWROUTE(default)",
            seq,
            &route::replace_default_request(seq, gateway, index),
        )
    }

    /// Asks the kernel to resolve `address` on interface `index` (ARP or neighbour solicitation),
    /// creating its entry when missing; the result arrives as a [`WatchEvent::Neighbour`].
    pub fn resolve(&self, index: u32, address: IpAddr) -> Result<(), SysError> {
        let socket = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let seq = self.next_seq();
        netlink::request_acknowledged(
            socket.as_fd(),
            "RTM_NEWNEIGH(NTF_USE)",
            seq,
            &neighbour::resolve_request(seq, index, address),
        )
    }

    /// The index of interface `name` in the watched namespace.
    pub fn interface_index(&self, name: &str) -> Result<u32, SysError> {
        netdev::interface_index(self.control.as_fd(), name)
    }

    /// The MAC address of interface `name` in the watched namespace.
    pub fn hw_address(&self, name: &str) -> Result<[u8; 6], SysError> {
        netdev::hw_address(self.control.as_fd(), name)
    }

    /// Stops the thread (within [`TIMEOUT`]) and waits for it; no event is reported after this
    /// returns.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for NeighbourWatcher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The whole neighbour table, read on the watching socket (notifications arriving meanwhile are
/// part of the dump's picture, so they are kept in order).
fn dump(socket: &OwnedFd, seq: u32) -> Result<Vec<Neighbour>, WatchError> {
    netlink::send_to_kernel(socket.as_fd(), &neighbour::dump_request(seq))?;
    let mut datagram = vec![0u8; DATAGRAM];
    let mut table: Vec<Neighbour> = Vec::new();
    let mut waited = 0;
    loop {
        let len = match netlink::receive(socket.as_fd(), &mut datagram) {
            Ok(len) => len,
            Err(e) if e.is(libc::EAGAIN) && waited < REQUEST_TRIES => {
                waited += 1;
                continue;
            }
            Err(e) => return Err(WatchError::Sys(e.with_context("RTM_GETNEIGH dump"))),
        };
        let part = neighbour::parse(seq, &datagram[..len]).ok_or(WatchError::Malformed)?;
        for change in part.changes {
            let same = |n: &Neighbour| {
                n.index == change.neighbour.index && n.address == change.neighbour.address
            };
            table.retain(|n| !same(n));
            if !change.removed {
                table.push(change.neighbour);
            }
        }
        if let Some(errno) = part.refused {
            return Err(WatchError::Sys(SysError::new("RTM_GETNEIGH", errno)));
        }
        if part.done {
            return Ok(table);
        }
    }
}
