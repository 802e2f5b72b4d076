//! The device plugin's handoff server for the TypeScript daemon: one [`NativeHandoffServer`] per
//! allocation, serving the allocation's socket on threads of its own.

use std::path::PathBuf;
use std::time::Duration;

use fastlane_handoff::{Allocation, Device, HandedBackend, HandoffServer, Limits, ServerOptions};
use napi_derive::napi;

use crate::error::{BindingError, Result};

/// How long a connected client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One queue of an interface that the allocation holds.
#[napi(object)]
#[derive(Debug)]
pub struct HandoffDevice {
    pub interface: String,
    pub queue: u32,
}

/// What the server of one allocation is told.
#[napi(object)]
#[derive(Debug)]
pub struct HandoffServerOptions {
    /// The allocation's id (for messages).
    pub allocation: String,
    /// The socket to serve (in the allocation's directory, which the pod sees).
    pub socket: String,
    /// SHA-256 of the allocation's one-time token, in hex.
    pub token_sha256: String,
    /// Made when the token is used; while it exists the token is refused (outside the pod's
    /// directory).
    pub token_used: String,
    pub devices: Vec<HandoffDevice>,
    /// The uids that may connect; none or empty: any uid.
    pub allowed_uids: Option<Vec<u32>>,
}

/// The session a server holds: the pod's process and what it was given.
#[napi(object)]
#[derive(Debug)]
pub struct HandoffSession {
    pub pid: u32,
    pub uid: u32,
    /// `af_xdp` or `af_packet`.
    pub backend: String,
    /// The devices handed over, `IF-qN`.
    pub devices: Vec<String>,
}

#[napi]
#[derive(Debug)]
pub struct NativeHandoffServer {
    server: Option<HandoffServer>,
}

fn token_digest(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(digest)
}

#[napi]
impl NativeHandoffServer {
    /// Serves `options.socket` for the allocation (a stale socket file there is replaced).
    #[napi(factory)]
    pub fn start(options: HandoffServerOptions) -> Result<Self> {
        let token_sha256 = token_digest(&options.token_sha256).ok_or_else(|| {
            BindingError::InvalidArgument(format!(
                "tokenSha256 {:?} is not a SHA-256 in hex (64 hex digits)",
                options.token_sha256
            ))
        })?;
        let devices = options
            .devices
            .into_iter()
            .map(|d| {
                let queue = u16::try_from(d.queue).map_err(|_| {
                    BindingError::InvalidArgument(format!(
                        "queue {} of {} is not a u16",
                        d.queue, d.interface
                    ))
                })?;
                Ok(Device {
                    interface: d.interface,
                    queue,
                })
            })
            .collect::<std::result::Result<Vec<_>, BindingError>>()?;
        let server = HandoffServer::start(
            Allocation {
                id: options.allocation,
                devices,
                token_sha256,
                allowed_uids: options.allowed_uids.unwrap_or_default(),
            },
            ServerOptions {
                socket: PathBuf::from(options.socket),
                token_used: PathBuf::from(options.token_used),
                limits: Limits::default(),
                request_timeout: REQUEST_TIMEOUT,
            },
        )
        .map_err(BindingError::from)?;
        Ok(NativeHandoffServer {
            server: Some(server),
        })
    }

    /// The session being served, if any.
    #[napi]
    pub fn session(&self) -> Option<HandoffSession> {
        let session = self.server.as_ref()?.session()?;
        Some(HandoffSession {
            pid: session.pid,
            uid: session.uid,
            backend: match session.backend {
                HandedBackend::AfXdp => "af_xdp",
                HandedBackend::AfPacket => "af_packet",
            }
            .to_string(),
            devices: session.devices,
        })
    }

    /// What happened since the last call (grants, refusals with their reasons, sessions ended).
    #[napi]
    pub fn take_events(&self) -> Vec<String> {
        self.server
            .as_ref()
            .map(HandoffServer::take_events)
            .unwrap_or_default()
    }

    /// Stops serving and removes the socket. `detach` (the allocation ended): a running
    /// session's programs are detached. Otherwise (the plugin stops) they stay attached while
    /// the pod holds them. Returns the events not taken yet; closing a closed server does
    /// nothing.
    #[napi]
    pub fn close(&mut self, detach: bool) -> Vec<String> {
        self.server
            .take()
            .map(|server| server.close(detach))
            .unwrap_or_default()
    }
}
