//! Fastlane's test traffic, for `fastlane demo`, the end-to-end tests and the benchmarks.
//!
//! - [`Generator`]: millions of frames per second from one core without pktgen. A `BPF_PROG_RUN`
//!   of the XDP program `fl_gen` in live-frames mode (kernel >= 5.18) transmits frames out of an
//!   interface (`XDP_TX` of a test run leaves through its ingress device) `repeat` times per call,
//!   cycling over up to a million frames that differ in their headers (10,000 subscribers' tunnel
//!   ids, say); the native XDP program `fl_sink` on the same interface (or the one the forwarder
//!   sends them out of) counts and drops the test traffic that comes back and passes the rest
//!   (ARP, ping, TCP) to the kernel.
//! - [`Reflector`]: an in-kernel UDP macswap (`XDP_TX`) on the far end, as a benchmark baseline.
//! - [`exchange`]: a few frames through an AF_PACKET socket, and what comes back.
//! - [`latency::measure`]: round-trip times of numbered frames sent at a low rate.
//! - [`udp_frame`], [`interface_mac`]: building frames for all of the above.
//!
//! Everything takes the network namespace to work in (`None`: the caller's own).

mod error;
mod exchange;
mod frame;
mod generator;
pub mod latency;
mod programs;
mod reflector;

pub use error::TestbedError;
pub use exchange::exchange;
pub use frame::{udp_dst_port, udp_frame, UdpFrameSpec, MAX_UDP_FRAME_LEN, MIN_FRAME_LEN};
pub use generator::{
    Generator, GeneratorConfig, GeneratorStats, ReturnPath, MAX_FRAMES, MAX_FRAME_HEADER,
};
pub use reflector::{PassThrough, Reflector};

/// The Ethernet address of `interface` in network namespace `netns`.
pub fn interface_mac(netns: Option<&str>, interface: &str) -> Result<[u8; 6], TestbedError> {
    fastlane_core::netns::run_in(netns, || {
        let control = fastlane_sys::netdev::control_socket()?;
        fastlane_sys::netdev::hw_address(std::os::fd::AsFd::as_fd(&control), interface)
    })?
    .map_err(|source| TestbedError::sys("SIOCGIFHWADDR", interface, source))
}
