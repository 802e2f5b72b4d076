//! The server against clients that get nothing: malformed, oversized, foreign-version or
//! descriptor-carrying messages, silent clients, a wrong token, a uid not allowed, devices the
//! allocation does not hold and requests over the limits. Each is refused with a reason the
//! client can show, nothing is built, the token stays good, and the server goes on serving.
//! Needs no privilege: nothing here gets far enough to make a socket.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

use fastlane_core::config::{AfPacketConfig, AfXdpConfig, FilterConfig};
use fastlane_handoff::protocol::{self, Reply, MAX_MESSAGE_BYTES};
use fastlane_handoff::{
    request_handoff, Allocation, Device, HandedBackend, HandoffError, HandoffServer, Limits,
    PortRequest, QueueRef, Request, ServerOptions, PROTOCOL_VERSION,
};
use fastlane_sys::{memfd, unix};
use sha2::{Digest, Sha256};

const TOKEN: &str = "0123456789abcdef";

struct Served {
    server: HandoffServer,
    dir: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Served {
    fn socket(&self) -> PathBuf {
        self.dir.join("handoff.sock")
    }
}

fn serve(tag: &str, allowed_uids: Vec<u32>) -> Served {
    let dir = std::env::temp_dir().join(format!("fastlane-handoff-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let server = HandoffServer::start(
        Allocation {
            id: "alloc-1".into(),
            devices: vec![Device {
                interface: "veth0".into(),
                queue: 0,
            }],
            token_sha256: Sha256::digest(TOKEN.as_bytes()).into(),
            allowed_uids,
        },
        ServerOptions {
            socket: dir.join("handoff.sock"),
            token_used: dir.join("token-used"),
            limits: Limits::default(),
            request_timeout: Duration::from_millis(300),
        },
    )
    .unwrap();
    Served { server, dir }
}

fn request(interface: &str) -> Request {
    Request {
        version: PROTOCOL_VERSION,
        token: TOKEN.into(),
        backend: HandedBackend::AfXdp,
        ports: vec![PortRequest {
            interface: interface.into(),
            queues: vec![0],
            filter: FilterConfig::default(),
            punt_tap: None,
        }],
        threads: vec![vec![QueueRef { port: 0, queue: 0 }]],
        af_xdp: AfXdpConfig::default(),
        af_packet: AfPacketConfig::default(),
        batch_size: 64,
    }
}

/// Sends `bytes` (with `fds`) and returns the server's refusal.
fn refusal(served: &Served, bytes: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) -> String {
    let socket = unix::seqpacket_connect(&served.socket()).unwrap();
    unix::send_fds(&socket, bytes, fds).unwrap();
    let mut buffer = vec![0u8; MAX_MESSAGE_BYTES];
    let (len, got) =
        unix::recv_fds_within(&socket, &mut buffer, 8, Duration::from_secs(5)).unwrap();
    assert!(got.is_empty(), "a refusal carries no descriptor");
    match protocol::decode::<Reply>(&buffer[..len]).unwrap() {
        Reply::Refused { error, .. } => error,
        granted => panic!("granted: {granted:?}"),
    }
}

fn refused(served: &Served, request: &Request) -> String {
    match request_handoff(&served.socket(), request, Duration::from_secs(5)) {
        Err(HandoffError::Refused { message, .. }) => message,
        other => panic!("not refused: {other:?}"),
    }
}

#[test]
fn malformed_oversized_foreign_and_descriptor_carrying_messages_are_refused_and_serving_goes_on() {
    let served = serve("malformed", Vec::new());
    let error = refusal(&served, b"\xff\xfe not json", &[]);
    assert!(error.starts_with("malformed message"), "{error}");
    let error = refusal(&served, &vec![b' '; MAX_MESSAGE_BYTES + 1], &[]);
    assert!(error.contains("payload longer than 65536 bytes"), "{error}");
    let memfd = memfd::memfd_create("smuggled").unwrap();
    let error = refusal(&served, br#"{"version": 1}"#, &[memfd.as_fd()]);
    assert!(error.contains("more than 0 descriptors sent"), "{error}");
    let mut foreign = serde_json::to_value(request("veth0")).unwrap();
    foreign["version"] = 7.into();
    let error = refusal(&served, foreign.to_string().as_bytes(), &[]);
    assert!(
        error.contains("protocol version 7 is not spoken here"),
        "{error}"
    );
    let mut extra = serde_json::to_value(request("veth0")).unwrap();
    extra["ports"][0]["xdp_program"] = "mine.o".into();
    let error = refusal(&served, extra.to_string().as_bytes(), &[]);
    assert!(error.contains("unknown field `xdp_program`"), "{error}");
    // A client that connects and says nothing is dropped after the request timeout.
    let silent = unix::seqpacket_connect(&served.socket()).unwrap();
    let mut buffer = [0u8; 4096];
    let (len, _) = unix::recv_fds_within(&silent, &mut buffer, 0, Duration::from_secs(5)).unwrap();
    let Reply::Refused { error, .. } = protocol::decode::<Reply>(&buffer[..len]).unwrap() else {
        panic!("granted to a silent client")
    };
    assert!(error.contains("no message within"), "{error}");
    // Still serving, and the token is still good: the allocation's device is what is wrong now.
    let error = refused(&served, &request("eth9"));
    assert_eq!(
        error,
        "port 0: device eth9-q0 is not allocated to allocation alloc-1 (it holds veth0-q0)"
    );
    let events = served.server.take_events();
    assert_eq!(events.len(), 7, "{events:?}");
    assert!(
        events.iter().all(|e| e.starts_with("refused pid ")),
        "{events:?}"
    );
    assert!(
        !served.dir.join("token-used").exists(),
        "a refusal used the token"
    );
}

#[test]
fn a_wrong_token_or_a_uid_not_allowed_gets_nothing() {
    let served = serve("token", Vec::new());
    let mut wrong = request("veth0");
    wrong.token = "guessed".into();
    assert_eq!(
        refused(&served, &wrong),
        "the token does not match allocation alloc-1"
    );
    // SAFETY: a plain getter.
    let uid = unsafe { libc::getuid() };
    let other = serve("uid", vec![uid + 1]);
    assert_eq!(
        refused(&other, &request("veth0")),
        format!(
            "uid {uid} may not use allocation alloc-1 (allowed uids: {})",
            uid + 1
        )
    );
}

#[test]
fn requests_over_the_limits_or_inconsistent_are_refused_naming_the_field() {
    let served = serve("limits", Vec::new());
    let mut big = request("veth0");
    big.af_xdp.umem_frames = 1 << 20;
    let error = refused(&served, &big);
    assert!(
        error.starts_with("/af_xdp/umem_frames: 1 threads of 1048576 frames of 4096 bytes"),
        "{error}"
    );
    let mut odd = request("veth0");
    odd.af_xdp.rx_ring_size = 1000;
    odd.threads = vec![vec![
        QueueRef { port: 0, queue: 0 },
        QueueRef { port: 0, queue: 0 },
    ]];
    let error = refused(&served, &odd);
    assert!(error.contains("port 0 queue 0 is served twice"), "{error}");
    assert!(
        error.contains("/af_xdp/rx_ring_size: 1000 is not a power of two"),
        "{error}"
    );
    let mut none = request("veth0");
    none.ports.clear();
    assert_eq!(refused(&served, &none), "/ports: the request names no port");
}

#[test]
fn a_missing_socket_is_named_as_the_plugin_not_being_there() {
    let path =
        std::env::temp_dir().join(format!("fastlane-handoff-{}-none.sock", std::process::id()));
    let error = request_handoff(&path, &request("veth0"), Duration::from_secs(1)).unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with(&format!(
            "cannot reach the device plugin at {}",
            path.display()
        )),
        "{text}"
    );
    assert!(text.contains("No such file or directory"), "{text}");
}
