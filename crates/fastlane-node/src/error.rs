//! Every error the binding raises, converted to a JavaScript Error at the boundary. The error's
//! `code` property is a Fastlane error code JavaScript can switch on (`err.code ===
//! "ERR_FASTLANE_START"`); the message starts with the same code in brackets, then says what
//! failed.

use fastlane_shm::ShmError;
use napi::bindgen_prelude::JsError;
use napi::Env;

/// What every fallible binding function returns.
pub type Result<T> = std::result::Result<T, napi::Error<Code>>;

#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    #[error(transparent)]
    Config(#[from] fastlane_core::config::ConfigErrors),
    #[error(transparent)]
    Runtime(#[from] fastlane_runtime::RuntimeError),
    #[error(transparent)]
    Testbed(#[from] fastlane_testbed::TestbedError),
    #[error(transparent)]
    Shm(#[from] ShmError),
    #[error(transparent)]
    Handoff(#[from] fastlane_handoff::ServerError),
    /// A table or channel (or its region) used after `close()`.
    #[error("the {0} is closed")]
    Closed(&'static str),
    #[error("{0}")]
    InvalidArgument(String),
    /// The neighbour watcher's rtnetlink exchanges failed.
    #[error("{0}")]
    Netlink(String),
    /// napi-rs could not do what was asked of the JavaScript engine.
    #[error("{0}")]
    Napi(String),
}

/// The `code` of a JavaScript error the binding throws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Config,
    Start,
    DevicePlugin,
    Testbed,
    ShmLayout,
    ShmLocked,
    ShmExists,
    ShmNotFound,
    ShmClosed,
    Shm,
    InvalidArgument,
    Netlink,
    Napi,
}

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        match self {
            Code::Config => "ERR_FASTLANE_CONFIG",
            Code::Start => "ERR_FASTLANE_START",
            Code::DevicePlugin => "ERR_FASTLANE_DEVICE_PLUGIN",
            Code::Testbed => "ERR_FASTLANE_TESTBED",
            Code::ShmLayout => "ERR_FASTLANE_SHM_LAYOUT",
            Code::ShmLocked => "ERR_FASTLANE_SHM_LOCKED",
            Code::ShmExists => "ERR_FASTLANE_SHM_EXISTS",
            Code::ShmNotFound => "ERR_FASTLANE_SHM_NOT_FOUND",
            Code::ShmClosed => "ERR_FASTLANE_SHM_CLOSED",
            Code::Shm => "ERR_FASTLANE_SHM",
            Code::InvalidArgument => "ERR_INVALID_ARG_VALUE",
            Code::Netlink => "ERR_FASTLANE_NETLINK",
            Code::Napi => "ERR_FASTLANE_NAPI",
        }
    }
}

impl BindingError {
    fn code(&self) -> Code {
        match self {
            BindingError::Config(_) => Code::Config,
            BindingError::Runtime(fastlane_runtime::RuntimeError::Config(_)) => Code::Config,
            BindingError::Runtime(
                fastlane_runtime::RuntimeError::DevicePlugin(_)
                | fastlane_runtime::RuntimeError::Deployment(_),
            ) => Code::DevicePlugin,
            BindingError::Runtime(_) => Code::Start,
            BindingError::Handoff(_) => Code::DevicePlugin,
            BindingError::Testbed(_) => Code::Testbed,
            BindingError::Shm(e) => match e {
                ShmError::LayoutMismatch { .. } | ShmError::Version { .. } => Code::ShmLayout,
                ShmError::Locked { .. } | ShmError::LockedHere { .. } => Code::ShmLocked,
                ShmError::AlreadyExists { .. } => Code::ShmExists,
                ShmError::NotFound { .. } => Code::ShmNotFound,
                ShmError::InvalidName { .. }
                | ShmError::InvalidLayout(_)
                | ShmError::UnknownObject { .. }
                | ShmError::WrongSize { .. } => Code::InvalidArgument,
                _ => Code::Shm,
            },
            BindingError::Closed(_) => Code::ShmClosed,
            BindingError::InvalidArgument(_) => Code::InvalidArgument,
            BindingError::Netlink(_) => Code::Netlink,
            BindingError::Napi(_) => Code::Napi,
        }
    }
}

impl From<BindingError> for napi::Error<Code> {
    fn from(e: BindingError) -> Self {
        let code = e.code();
        napi::Error::new(code, format!("[{}] {e}", code.as_ref()))
    }
}

/// For napi-rs's own failures (`?` on what napi-rs returns).
pub fn napi_failure(e: napi::Error) -> napi::Error<Code> {
    BindingError::Napi(format!("{}: {}", e.status.as_ref(), e.reason)).into()
}

/// The coded error as napi-rs's plain error type, for the places that take only that (an async
/// task's result): the JavaScript error, code included, is made here and napi-rs throws that very
/// object.
pub fn to_plain_error(env: Env, e: BindingError) -> napi::Error {
    let coded = napi::Error::<Code>::from(e);
    napi::Error::from(JsError::from(coded).into_unknown(env))
}
