use fastlane_core::netns::NetnsError;

/// Why a test traffic tool could not start or run. Each variant names the kernel call and the
/// interface involved; program load errors carry the verifier log.
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    #[error("{call} on {interface}: {source}")]
    Sys {
        call: &'static str,
        interface: String,
        source: std::io::Error,
    },
    #[error("load the embedded test traffic object: {0}")]
    Load(#[source] Box<aya::EbpfError>),
    #[error("the embedded test traffic object has no {kind} {name}")]
    Missing {
        kind: &'static str,
        name: &'static str,
    },
    #[error("{action} XDP program {program} on {interface}: {source}")]
    Program {
        action: &'static str,
        program: &'static str,
        interface: String,
        source: Box<aya::programs::ProgramError>,
    },
    #[error("map {map}: {source}")]
    Map {
        map: &'static str,
        source: Box<aya::maps::MapError>,
    },
    #[error("duplicate the descriptor of map {map}: {source}")]
    MapFd {
        map: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("generator frame of {len} bytes: {reason}")]
    BadFrame { len: usize, reason: &'static str },
    #[error("generator frames: {0}")]
    Frames(String),
    #[error("generator rate of 0 packets per second")]
    ZeroRate,
    #[error("the generator thread on {interface} panicked")]
    GeneratorPanicked { interface: String },
}

impl TestbedError {
    pub(crate) fn sys(
        call: &'static str,
        interface: &str,
        source: impl Into<std::io::Error>,
    ) -> Self {
        TestbedError::Sys {
            call,
            interface: interface.to_string(),
            source: source.into(),
        }
    }
}
