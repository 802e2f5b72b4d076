//! The privileged side: one [`HandoffServer`] per allocation serves the allocation's socket. A
//! client is checked (its uid by SO_PEERCRED against the allocation's allowed uids, then its
//! one-time token against the stored digest), its request is checked against the allocation's
//! devices and the plugin's limits, and then everything is built inside the client's network
//! namespace (entered through `/proc/PID/ns/net` of the peer's pid) and handed over.
//!
//! The session lasts as long as the client's connection: when it closes (the pod is gone) the
//! plugin detaches the programs it loaded for it. The sockets, the UMEM memfd and the TAP
//! devices were never the plugin's to keep: it closes its copies once they are sent, so they
//! live exactly as long as the pod's descriptors. Memory (the UMEM) is registered by the plugin,
//! so it is charged to the plugin, not to the pod's RLIMIT_MEMLOCK.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use fastlane_afpacket::AfPacketPort;
use fastlane_core::config::TapConfig;
use fastlane_core::{FilterTables, QueueSpec, Split};
use fastlane_sys::unix::{self, PeerCredentials};
use fastlane_sys::{poll, tun, SysError};
use fastlane_tap::{KernelInterface, Tap, TapSpec};
use fastlane_xdp::{AttachedMode, XdpPort};
use sha2::{Digest, Sha256};

use crate::protocol::{
    self, Grant, HandedBackend, PortGrant, QueueRef, Reply, Request, TapGrant, ThreadGrant,
    XdpAttach, PROTOCOL_VERSION,
};

/// One queue of an interface: a device of the allocation (`IF-qN` to the kubelet).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Device {
    pub interface: String,
    pub queue: u16,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-q{}", self.interface, self.queue)
    }
}

/// What the plugin lets one pod have at most, so that no request makes it allocate without bound.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// UMEM bytes over all of a request's AF_XDP threads.
    pub umem_bytes: u64,
    /// TPACKET ring bytes over all of a request's AF_PACKET sockets.
    pub packet_ring_bytes: u64,
    /// The largest ring an AF_XDP socket may ask for (entries).
    pub ring_entries: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            umem_bytes: 256 << 20,
            packet_ring_bytes: 256 << 20,
            ring_entries: 1 << 20,
        }
    }
}

/// What an allocation lets a client have, and who may be that client.
#[derive(Debug, Clone)]
pub struct Allocation {
    /// The allocation's id (for messages).
    pub id: String,
    pub devices: Vec<Device>,
    /// SHA-256 of the one-time token the allocation's container was given.
    pub token_sha256: [u8; 32],
    /// The uids that may connect; empty: any uid (the token alone decides). The uid of the client
    /// a grant went to is recorded with the used token.
    pub allowed_uids: Vec<u32>,
}

/// Where the server keeps its socket and the mark of a used token.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The socket path (in the allocation's directory, which the pod sees).
    pub socket: PathBuf,
    /// Made when the token is used, holding who used it; while it exists the token is refused.
    /// Kept outside the directory the pod sees, so that a restarted plugin still refuses a
    /// replayed token.
    pub token_used: PathBuf,
    pub limits: Limits,
    /// How long a client may take to send its request after connecting.
    pub request_timeout: Duration,
}

/// A session the server holds: the client and what it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub pid: u32,
    pub uid: u32,
    pub backend: HandedBackend,
    pub devices: Vec<String>,
}

#[derive(Debug, Default)]
struct State {
    /// The pid of the client being served or holding the session.
    busy: Option<u32>,
    session: Option<SessionInfo>,
    /// What happened, for the plugin's log, taken by [`HandoffServer::take_events`].
    events: Vec<String>,
    /// Set when the server closes: whether sessions detach their programs (the allocation
    /// ended) or leave them attached to the pod (the plugin stops).
    detach_on_close: bool,
}

#[derive(Debug)]
struct Shared {
    allocation: Allocation,
    options: ServerOptions,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn event(&self, text: String) {
        log::info!("allocation {}: {text}", self.allocation.id);
        self.state().events.push(text);
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("handoff socket {path}: {source}")]
    Socket { path: String, source: SysError },
    #[error("handoff server thread: {0}")]
    Thread(std::io::Error),
}

/// Serves one allocation's socket until [`HandoffServer::close`] (or drop, which leaves
/// running sessions' programs attached, as a stopping plugin does).
#[derive(Debug)]
pub struct HandoffServer {
    shared: Arc<Shared>,
    /// Dropping it wakes every thread of the server (its peer end sees a hang-up).
    stop: Option<OwnedFd>,
    accept: Option<JoinHandle<()>>,
}

impl HandoffServer {
    /// Listens on `options.socket` (a stale socket file there is replaced) and serves it on a
    /// thread of its own.
    pub fn start(
        allocation: Allocation,
        options: ServerOptions,
    ) -> Result<HandoffServer, ServerError> {
        let path = options.socket.display().to_string();
        let socket_error = |source| ServerError::Socket {
            path: path.clone(),
            source,
        };
        match std::fs::remove_file(&options.socket) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(socket_error(
                    SysError::new("unlink", e.raw_os_error().unwrap_or(0))
                        .with_context(path.clone()),
                ))
            }
        }
        // Anyone may connect: SO_PEERCRED and the token decide who gets anything.
        let listener = unix::seqpacket_listen(&options.socket, 8, 0o666).map_err(socket_error)?;
        let (stop, stopped) = unix::seqpacket_pair().map_err(socket_error)?;
        let shared = Arc::new(Shared {
            allocation,
            options,
            state: Mutex::new(State::default()),
        });
        let accept = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("fastlane-handoff".into())
                .spawn(move || accept_loop(&shared, &listener, &stopped))
                .map_err(ServerError::Thread)?
        };
        Ok(HandoffServer {
            shared,
            stop: Some(stop),
            accept: Some(accept),
        })
    }

    /// The session being served, if any.
    pub fn session(&self) -> Option<SessionInfo> {
        self.shared.state().session.clone()
    }

    /// What happened since the last call, oldest first.
    pub fn take_events(&self) -> Vec<String> {
        std::mem::take(&mut self.shared.state().events)
    }

    /// Stops serving and removes the socket. With `detach` (the allocation ended) a running
    /// session's programs are detached; without (the plugin stops, and will serve again after
    /// its restart) they stay attached for as long as the pod holds their links. Returns the
    /// events not taken yet, the session's end among them.
    pub fn close(mut self, detach: bool) -> Vec<String> {
        self.shutdown(detach);
        self.take_events()
    }

    fn shutdown(&mut self, detach: bool) {
        self.shared.state().detach_on_close = detach;
        drop(self.stop.take());
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let _ = std::fs::remove_file(&self.shared.options.socket);
    }
}

impl Drop for HandoffServer {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.shutdown(false);
        }
    }
}

/// Whether `fd` has events, waiting at most `timeout_ms` (-1: for ever).
fn readable(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> Vec<bool> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    match poll::poll(&mut pfds, timeout_ms) {
        Ok(_) => pfds.iter().map(|p| p.revents != 0).collect(),
        Err(e) => {
            log::warn!("handoff server: {e}");
            vec![true; fds.len()]
        }
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &OwnedFd, stopped: &OwnedFd) {
    let mut sessions: Vec<JoinHandle<()>> = Vec::new();
    loop {
        let ready = readable(&[listener.as_fd(), stopped.as_fd()], -1);
        if ready[1] {
            break;
        }
        if !ready[0] {
            continue;
        }
        let connection = match unix::accept(listener) {
            Ok(connection) => connection,
            Err(e) => {
                shared.event(format!("accept: {e}"));
                continue;
            }
        };
        let stopped = match stopped.try_clone() {
            Ok(fd) => fd,
            Err(e) => {
                shared.event(format!("dup: {e}"));
                continue;
            }
        };
        let shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("fastlane-handoff-session".into())
            .spawn(move || serve(&shared, connection, &stopped));
        match spawned {
            Ok(handle) => sessions.push(handle),
            Err(e) => log::warn!("handoff session thread: {e}"),
        }
        sessions.retain(|s| !s.is_finished());
    }
    for session in sessions {
        let _ = session.join();
    }
}

/// What the plugin made for a session and keeps: the programs (dropping them detaches them), and
/// the names of the TAP devices it made in the pod's network namespace.
struct Resources {
    xdp: Vec<XdpPort>,
    packet: Vec<AfPacketPort>,
    taps: Vec<String>,
}

impl Resources {
    /// Leaves the programs attached to the pod, which holds their links.
    fn release(self) {
        self.xdp.into_iter().for_each(XdpPort::release);
        self.packet.into_iter().for_each(AfPacketPort::release);
    }

    /// Detaches the programs and removes the TAP devices (in `netns`, the pod's), which a pod
    /// still running would otherwise keep. Returns what could not be removed.
    fn detach(self, netns: &std::fs::File) -> Vec<String> {
        drop(self.xdp);
        drop(self.packet);
        if self.taps.is_empty() {
            return Vec::new();
        }
        let path = format!("/proc/self/fd/{}", netns.as_raw_fd());
        let taps = self.taps;
        let removed = fastlane_core::netns::run_in(Some(&path), || {
            taps.iter()
                .filter_map(|tap| {
                    fastlane_tap::delete_device(tap)
                        .err()
                        .map(|e| e.to_string())
                })
                .collect::<Vec<_>>()
        });
        removed.unwrap_or_else(|e| vec![format!("entering the pod's network namespace: {e}")])
    }
}

fn serve(shared: &Shared, connection: OwnedFd, stopped: &OwnedFd) {
    let peer = match unix::peer_credentials(&connection) {
        Ok(peer) => peer,
        Err(e) => {
            shared.event(format!("a client whose credentials cannot be read: {e}"));
            return;
        }
    };
    let who = format!("pid {} uid {}", peer.pid, peer.uid);
    let (resources, info, netns) = match grant(shared, &connection, peer) {
        Ok(granted) => granted,
        Err(refusal) => {
            shared.event(format!("refused {who}: {refusal}"));
            let reply = Reply::Refused {
                version: PROTOCOL_VERSION,
                error: refusal,
            };
            if let Ok(bytes) = protocol::encode(&reply) {
                let _ = unix::send_fds(&connection, &bytes, &[]);
            }
            return;
        }
    };
    shared.event(format!(
        "handed {} ({}) to {who}",
        info.devices.join(","),
        match info.backend {
            HandedBackend::AfXdp => "af_xdp",
            HandedBackend::AfPacket => "af_packet",
        }
    ));
    // The session ends when the client's end closes (or sends anything more, which the protocol
    // does not allow), or when the server closes.
    let ready = readable(&[connection.as_fd(), stopped.as_fd()], -1);
    let detach = ready[0] || shared.state().detach_on_close;
    if detach {
        let left = resources.detach(&netns);
        shared.event(format!(
            "session of {who} ended{}: its programs are detached{}",
            if ready[0] { "" } else { " with the allocation" },
            if left.is_empty() {
                String::new()
            } else {
                format!("; left behind: {}", left.join("; "))
            }
        ));
    } else {
        resources.release();
        shared.event(format!(
            "server stopped; {who} keeps its programs attached while it holds them"
        ));
    }
    let mut state = shared.state();
    state.session = None;
    state.busy = None;
}

/// Checks the client and its request, builds what it asks for, and sends it. Returns what the
/// plugin keeps for the session and the client's network namespace, or the refusal to send.
fn grant(
    shared: &Shared,
    connection: &OwnedFd,
    peer: PeerCredentials,
) -> Result<(Resources, SessionInfo, std::fs::File), String> {
    let allocation = &shared.allocation;
    let mut buffer = vec![0u8; protocol::MAX_MESSAGE_BYTES];
    let (len, _) =
        unix::recv_fds_within(connection, &mut buffer, 0, shared.options.request_timeout)
            .map_err(|e| format!("reading the request: {e}"))?;
    // A uid the allocation does not allow gets nothing, whatever it sent. (The request is read
    // first all the same: a socket closed with unread data resets the connection, and the
    // client would not see why.)
    if !allocation.allowed_uids.is_empty() && !allocation.allowed_uids.contains(&peer.uid) {
        return Err(format!(
            "uid {} may not use allocation {} (allowed uids: {})",
            peer.uid,
            allocation.id,
            allocation
                .allowed_uids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let request: Request = protocol::decode(&buffer[..len])?;
    if peer.pid == 0 {
        return Err(
            "the client's process is not visible in the device plugin's pid namespace, so its \
             network namespace cannot be found (run the plugin in the host's: hostPID: true)"
                .into(),
        );
    }
    let digest: [u8; 32] = Sha256::digest(request.token.as_bytes()).into();
    // Compared without an early exit, so that timing tells nothing about the digest.
    let differs = digest
        .iter()
        .zip(&allocation.token_sha256)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    if differs != 0 {
        return Err(format!(
            "the token does not match allocation {}",
            allocation.id
        ));
    }
    if let Ok(used) = std::fs::read_to_string(&shared.options.token_used) {
        return Err(format!(
            "the token of allocation {} was already used ({}): a token is good for one handoff",
            allocation.id,
            used.trim()
        ));
    }
    {
        let mut state = shared.state();
        if let Some(pid) = state.busy {
            return Err(format!(
                "allocation {} is being handed to pid {pid}",
                allocation.id
            ));
        }
        state.busy = Some(peer.pid);
    }
    let built = check(&request, allocation, &shared.options.limits).and_then(|devices| {
        // The peer's pid as the kernel recorded it at connect(). Only if the client dies and its
        // pid is reused while it is served can this name another process's namespace; then the
        // client's end is closed, sending fails, and what was built is dropped.
        let netns = std::fs::File::open(format!("/proc/{}/ns/net", peer.pid))
            .map_err(|e| format!("the network namespace of pid {}: {e}", peer.pid))?;
        let in_netns = format!("/proc/self/fd/{}", netns.as_raw_fd());
        let (resources, grant, descriptors) =
            fastlane_core::netns::run_in(Some(&in_netns), || build(&request, peer)).map_err(
                |e| format!("entering the network namespace of pid {}: {e}", peer.pid),
            )??;
        mark_token_used(&shared.options.token_used, peer)?;
        let reply = protocol::encode(&Reply::Granted {
            version: PROTOCOL_VERSION,
            grant,
        })?;
        let info = SessionInfo {
            pid: peer.pid,
            uid: peer.uid,
            backend: request.backend,
            devices,
        };
        // The session exists from the moment the client can act on it.
        shared.state().session = Some(info.clone());
        let fds: Vec<BorrowedFd<'_>> = descriptors.iter().map(AsFd::as_fd).collect();
        unix::send_fds(connection, &reply, &fds)
            .map_err(|e| format!("sending the descriptors: {e}"))?;
        // The pod holds the only copies now, besides the programs' links kept in `resources`.
        drop(descriptors);
        Ok((resources, info, netns))
    });
    if built.is_err() {
        let mut state = shared.state();
        state.busy = None;
        state.session = None;
    }
    built
}

fn mark_token_used(path: &std::path::Path, peer: PeerCredentials) -> Result<(), String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .and_then(|mut file| {
            writeln!(
                file,
                "by pid {} uid {} at unix time {now}",
                peer.pid, peer.uid
            )
        })
        .map_err(|e| format!("recording the token as used in {}: {e}", path.display()))
}

/// Checks the request against the allocation and the limits; returns the devices it uses.
fn check(
    request: &Request,
    allocation: &Allocation,
    limits: &Limits,
) -> Result<Vec<String>, String> {
    let held: BTreeSet<&Device> = allocation.devices.iter().collect();
    let held_text = || {
        allocation
            .devices
            .iter()
            .map(Device::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    if request.ports.is_empty() {
        return Err("/ports: the request names no port".into());
    }
    let mut errors: Vec<String> = Vec::new();
    let mut used = Vec::new();
    for (p, port) in request.ports.iter().enumerate() {
        if port.interface.is_empty() || port.interface.len() >= libc::IFNAMSIZ {
            errors.push(format!("/ports/{p}/interface: not an interface name"));
            continue;
        }
        if port.queues.is_empty() {
            errors.push(format!("/ports/{p}/queues: no queue"));
        }
        for (i, &queue) in port.queues.iter().enumerate() {
            let device = Device {
                interface: port.interface.clone(),
                queue,
            };
            if port.queues[..i].contains(&queue) {
                errors.push(format!("/ports/{p}/queues/{i}: queue {queue} twice"));
            } else if !held.contains(&device) {
                errors.push(format!(
                    "port {p}: device {device} is not allocated to allocation {} (it holds {})",
                    allocation.id,
                    held_text()
                ));
            } else {
                used.push(device.to_string());
            }
        }
        if request.ports[..p]
            .iter()
            .any(|o| o.interface == port.interface)
        {
            errors.push(format!(
                "/ports/{p}/interface: {} is listed twice",
                port.interface
            ));
        }
        errors.extend(
            port.filter
                .check_at(&format!("/ports/{p}/filter"))
                .iter()
                .map(ToString::to_string),
        );
        if let Some(tap) = &port.punt_tap {
            errors.extend(
                tap.check_at(&format!("/ports/{p}/tap"))
                    .iter()
                    .map(ToString::to_string),
            );
        }
    }
    // Every queue of every port is served by exactly one thread.
    let mut served: BTreeSet<QueueRef> = BTreeSet::new();
    for (t, thread) in request.threads.iter().enumerate() {
        if thread.is_empty() {
            errors.push(format!("thread {t} serves no queue"));
        }
        for q in thread {
            let known = request
                .ports
                .get(q.port as usize)
                .is_some_and(|port| port.queues.contains(&q.queue));
            if !known {
                errors.push(format!(
                    "thread {t}: port {} queue {} is not a queue of the request's ports",
                    q.port, q.queue
                ));
            } else if !served.insert(*q) {
                errors.push(format!(
                    "thread {t}: port {} queue {} is served twice",
                    q.port, q.queue
                ));
            }
        }
    }
    let queues: usize = request.ports.iter().map(|p| p.queues.len()).sum();
    if served.len() != queues && errors.is_empty() {
        errors.push(format!(
            "the threads serve {} of the ports' {queues} queues",
            served.len()
        ));
    }
    if !(1..=1024).contains(&request.batch_size) {
        errors.push(format!(
            "/threads/batch_size: {} is not within 1..=1024",
            request.batch_size
        ));
    }
    match request.backend {
        HandedBackend::AfXdp => {
            let x = &request.af_xdp;
            errors.extend(x.check().iter().map(ToString::to_string));
            for (name, size) in [
                ("rx_ring_size", x.rx_ring_size),
                ("tx_ring_size", x.tx_ring_size),
                ("fill_ring_size", x.fill_ring_size),
                ("completion_ring_size", x.completion_ring_size),
            ] {
                if size > limits.ring_entries {
                    errors.push(format!(
                        "/af_xdp/{name}: {size} entries; the device plugin allows at most {}",
                        limits.ring_entries
                    ));
                }
            }
            let umem =
                u64::from(x.umem_frames) * u64::from(x.frame_size) * request.threads.len() as u64;
            if umem > limits.umem_bytes {
                errors.push(format!(
                    "/af_xdp/umem_frames: {} threads of {} frames of {} bytes are {umem} bytes of \
                     UMEM; the device plugin allows at most {}",
                    request.threads.len(),
                    x.umem_frames,
                    x.frame_size,
                    limits.umem_bytes
                ));
            }
        }
        HandedBackend::AfPacket => {
            let a = &request.af_packet;
            errors.extend(a.check().iter().map(ToString::to_string));
            let ring = u64::from(a.block_size) * u64::from(a.block_count) * queues as u64;
            if ring > limits.packet_ring_bytes {
                errors.push(format!(
                    "/af_packet/block_count: {queues} sockets of {} blocks of {} bytes are {ring} \
                     bytes of rings; the device plugin allows at most {}",
                    a.block_count, a.block_size, limits.packet_ring_bytes
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(used)
    } else {
        Err(errors.join("; "))
    }
}

fn specs(request: &Request, thread: &[QueueRef]) -> Vec<QueueSpec> {
    thread
        .iter()
        .map(|q| QueueSpec {
            port: q.port,
            interface: request.ports[q.port as usize].interface.clone(),
            queue: q.queue,
        })
        .collect()
}

fn port_label(request: &Request, p: usize) -> String {
    format!("port {p} ({})", request.ports[p].interface)
}

/// Builds everything the request asks for, in the calling thread's network namespace (the
/// client's): the programs the plugin keeps, the grant, and the descriptors to send in the
/// grant's order. On error what was built is dropped (programs detach, descriptors close).
fn build(
    request: &Request,
    peer: PeerCredentials,
) -> Result<(Resources, Grant, Vec<OwnedFd>), String> {
    let batch = request.batch_size as usize;
    let mut resources = Resources {
        xdp: Vec::new(),
        packet: Vec::new(),
        taps: Vec::new(),
    };
    let mut descriptors: Vec<OwnedFd> = Vec::new();
    let mut threads = Vec::new();
    let mut ports: Vec<PortGrant> = Vec::new();
    match request.backend {
        HandedBackend::AfXdp => {
            // Sockets first: the program then never redirects to a queue without one.
            let mut exports = Vec::new();
            for (t, thread) in request.threads.iter().enumerate() {
                let export =
                    fastlane_afxdp::export_thread(&request.af_xdp, &specs(request, thread), batch)
                        .map_err(|e| format!("thread {t}: AF_XDP sockets: {e}"))?;
                threads.push(ThreadGrant::AfXdp {
                    layout: export.layout.into(),
                });
                exports.push(export);
            }
            for (p, port) in request.ports.iter().enumerate() {
                let failed = |e: fastlane_xdp::XdpError| {
                    format!("{}: XDP program: {e}", port_label(request, p))
                };
                let tables = FilterTables::new(&port.filter);
                let mut xdp = XdpPort::attach(&port.interface, request.af_xdp.attach_mode, &tables)
                    .map_err(failed)?;
                for socket in exports.iter().flat_map(|e| &e.sockets) {
                    if socket.queue.port as usize == p {
                        xdp.register_socket(
                            u32::from(socket.queue.queue),
                            socket.socket.as_raw_fd(),
                        )
                        .map_err(failed)?;
                    }
                }
                ports.push(PortGrant {
                    xdp: Some(match xdp.mode() {
                        AttachedMode::Native => XdpAttach::Native,
                        AttachedMode::Generic => XdpAttach::Generic,
                    }),
                    tc_link: false,
                    tap: None,
                });
                resources.xdp.push(xdp);
            }
            for export in exports {
                descriptors.push(export.umem_memfd);
                descriptors.extend(export.sockets.into_iter().map(|s| s.socket));
            }
        }
        HandedBackend::AfPacket => {
            for (p, port) in request.ports.iter().enumerate() {
                let tables = FilterTables::new(&port.filter);
                let opened =
                    fastlane_afpacket::open_port(&request.af_packet, &port.interface, &tables)
                        .map_err(|e| format!("{}: AF_PACKET split: {e}", port_label(request, p)))?
                        .with_queue_count(port.queues.len());
                resources.packet.push(opened);
            }
            for (t, thread) in request.threads.iter().enumerate() {
                for spec in specs(request, thread) {
                    let port = &resources.packet[spec.port as usize];
                    let socket = fastlane_afpacket::export_sockets(
                        &request.af_packet,
                        port,
                        std::slice::from_ref(&spec),
                    )
                    .map_err(|e| format!("thread {t}: AF_PACKET socket: {e}"))?;
                    descriptors.extend(socket);
                }
                let split_in_kernel = thread
                    .iter()
                    .all(|q| resources.packet[q.port as usize].split() == Split::InKernel);
                threads.push(ThreadGrant::AfPacket { split_in_kernel });
            }
            ports.extend(request.ports.iter().map(|_| PortGrant {
                xdp: None,
                tc_link: false,
                tap: None,
            }));
        }
    }
    for (p, port) in request.ports.iter().enumerate() {
        let grant = &mut ports[p];
        if let Some(xdp) = resources.xdp.get(p) {
            let failed =
                |e: fastlane_xdp::XdpError| format!("{}: XDP program: {e}", port_label(request, p));
            descriptors.push(xdp.export_counters_map().map_err(failed)?);
            descriptors.push(xdp.export_link().map_err(failed)?);
        }
        if let Some(packet) = resources.packet.get(p) {
            let link = packet
                .export_suppressor_link()
                .map_err(|e| format!("{}: {e}", port_label(request, p)))?;
            if let Some(link) = link {
                grant.tc_link = true;
                descriptors.push(link);
            }
        }
        if let Some(tap) = &port.punt_tap {
            let (name, mtu, queues) = punt_tap(&port.interface, tap, port.queues.len(), peer)
                .map_err(|e| format!("{}: punt TAP: {e}", port_label(request, p)))?;
            resources.taps.push(name.clone());
            grant.tap = Some(TapGrant { name, mtu });
            descriptors.extend(queues);
        }
    }
    let grant = Grant { threads, ports };
    if descriptors.len() > unix::MAX_FDS_PER_MESSAGE {
        return Err(format!(
            "the request needs {} descriptors; one handoff carries at most {}",
            descriptors.len(),
            unix::MAX_FDS_PER_MESSAGE
        ));
    }
    debug_assert_eq!(grant.descriptor_count(request), descriptors.len());
    Ok((resources, grant, descriptors))
}

/// The punt TAP of a port, as the runtime makes it (the interface's MAC and MTU unless the
/// `tap` section says otherwise, no addresses), owned by the client's uid and gid. Returns its
/// name, MTU and queues.
fn punt_tap(
    interface: &str,
    config: &TapConfig,
    queues: usize,
    peer: PeerCredentials,
) -> Result<(String, u32, Vec<OwnedFd>), String> {
    let kernel = KernelInterface::get(interface).map_err(|e| e.to_string())?;
    let mut spec =
        TapSpec::from_config(config, interface, kernel.mac, queues).map_err(|e| e.to_string())?;
    spec.addresses.clear();
    spec.mtu = spec.mtu.or(Some(kernel.mtu));
    let export = Tap::create(&spec).map_err(|e| e.to_string())?.export();
    for queue in &export.queues {
        tun::set_owner(queue.as_fd(), peer.uid, peer.gid)
            .map_err(|e| format!("{}: {e}", export.name))?;
    }
    Ok((export.name, export.mtu, export.queues))
}
