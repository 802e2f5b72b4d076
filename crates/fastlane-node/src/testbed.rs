//! The built-in traffic tools behind `fastlane demo`, the end-to-end tests and the benchmarks.

use std::time::Duration;

use napi::bindgen_prelude::{AsyncTask, Buffer};
use napi::{Env, Task};
use napi_derive::napi;

use crate::error::{self, BindingError};

#[napi(object)]
#[allow(missing_debug_implementations)] // a JavaScript Buffer has no Debug
pub struct GeneratorOptions {
    /// Network namespace of the generator's interface.
    pub netns: Option<String>,
    pub interface: String,
    /// The frame sent again and again (give this or `frames`).
    pub frame: Option<Buffer>,
    /// Frames sent each in turn, over and over (give this or `frame`): all of one length, alike
    /// after their first 128 bytes.
    pub frames: Option<Vec<Buffer>>,
    /// CPU the sending thread is pinned to.
    pub core: Option<u32>,
    /// Returning frames with this UDP destination port are counted (and dropped).
    pub match_udp_port: u32,
    /// Count returning frames on this interface instead of `interface`: a forwarder that sends
    /// them out of another port.
    pub return_interface: Option<String>,
    /// Network namespace of `returnInterface` (default: `netns`).
    pub return_netns: Option<String>,
    /// Paces the generator; omitted means as fast as it can.
    pub rate_pps: Option<f64>,
}

#[napi(object)]
#[derive(Debug)]
pub struct GeneratorStats {
    pub sent_packets: f64,
    pub returned_packets: f64,
    pub returned_bytes: f64,
}

impl From<fastlane_testbed::GeneratorStats> for GeneratorStats {
    fn from(s: fastlane_testbed::GeneratorStats) -> Self {
        GeneratorStats {
            sent_packets: s.sent_packets as f64,
            returned_packets: s.returned_packets as f64,
            returned_bytes: s.returned_bytes as f64,
        }
    }
}

fn port(value: u32, what: &str) -> Result<u16, BindingError> {
    u16::try_from(value)
        .map_err(|_| BindingError::InvalidArgument(format!("{what}: {value} is not a port")))
}

fn mac(text: &str, what: &str) -> Result<[u8; 6], BindingError> {
    let bad = || BindingError::InvalidArgument(format!("{what}: {text:?} is not a MAC address"));
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    bytes.try_into().map_err(|_| bad())
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A traffic generator on one interface: sends a frame (or cycles over many) at full speed (or
/// paced) and counts the frames that come back, there or on another interface.
#[napi]
#[derive(Debug)]
pub struct TrafficGenerator {
    config: Option<fastlane_testbed::GeneratorConfig>,
    running: Option<fastlane_testbed::Generator>,
}

#[napi]
impl TrafficGenerator {
    #[napi(constructor)]
    pub fn new(options: GeneratorOptions) -> error::Result<Self> {
        let core = options
            .core
            .map(|c| {
                u16::try_from(c).map_err(|_| BindingError::InvalidArgument(format!("core: {c}")))
            })
            .transpose()?;
        let frames = match (options.frame, options.frames) {
            (Some(frame), None) => vec![frame.to_vec()],
            (None, Some(frames)) => frames.iter().map(|f| f.to_vec()).collect(),
            _ => {
                return Err(BindingError::InvalidArgument(
                    "frame, frames: give exactly one of them".into(),
                )
                .into())
            }
        };
        let returns = match (options.return_interface, options.return_netns) {
            (Some(interface), netns) => Some(fastlane_testbed::ReturnPath {
                netns: netns.or_else(|| options.netns.clone()),
                interface,
            }),
            (None, None) => None,
            (None, Some(_)) => {
                return Err(BindingError::InvalidArgument(
                    "returnNetns: given without returnInterface".into(),
                )
                .into())
            }
        };
        let config = fastlane_testbed::GeneratorConfig {
            netns: options.netns,
            interface: options.interface,
            frames,
            core,
            match_udp_port: port(options.match_udp_port, "matchUdpPort")?,
            returns,
            rate_pps: options.rate_pps.map(|r| r as u64),
        };
        Ok(TrafficGenerator {
            config: Some(config),
            running: None,
        })
    }

    #[napi]
    pub fn start(&mut self) -> error::Result<()> {
        let Some(config) = self.config.clone() else {
            return Err(
                BindingError::InvalidArgument("the generator was already used".into()).into(),
            );
        };
        if self.running.is_none() {
            self.running =
                Some(fastlane_testbed::Generator::start(config).map_err(BindingError::from)?);
        }
        Ok(())
    }

    #[napi]
    pub fn stats(&self) -> GeneratorStats {
        self.running
            .as_ref()
            .map(|g| g.stats())
            .unwrap_or_default()
            .into()
    }

    /// Stops sending, detaches the counting program and returns the final counts.
    #[napi]
    pub fn stop(&mut self) -> error::Result<GeneratorStats> {
        match self.running.take() {
            Some(generator) => {
                self.config = None;
                Ok(generator.stop().map_err(BindingError::from)?.into())
            }
            None => Ok(fastlane_testbed::GeneratorStats::default().into()),
        }
    }
}

#[napi(object)]
#[derive(Debug)]
pub struct UdpFrameOptions {
    pub src_mac: String,
    pub dst_mac: String,
    pub src_ip: String,
    pub dst_ip: String,
    pub src_port: u32,
    pub dst_port: u32,
}

/// Builds an IPv4/UDP frame of exactly `frame_len` bytes (at least 60, FCS excluded).
#[napi]
pub fn udp_frame(options: UdpFrameOptions, frame_len: u32) -> error::Result<Buffer> {
    let ip = |text: &str, what: &str| {
        text.parse().map_err(|_| {
            BindingError::InvalidArgument(format!("{what}: {text:?} is not an IPv4 address"))
        })
    };
    if frame_len < 60 {
        return Err(
            BindingError::InvalidArgument(format!("frameLen: {frame_len} is below 60")).into(),
        );
    }
    let spec = fastlane_testbed::UdpFrameSpec {
        src_mac: mac(&options.src_mac, "srcMac")?,
        dst_mac: mac(&options.dst_mac, "dstMac")?,
        src_ip: ip(&options.src_ip, "srcIp")?,
        dst_ip: ip(&options.dst_ip, "dstIp")?,
        src_port: port(options.src_port, "srcPort")?,
        dst_port: port(options.dst_port, "dstPort")?,
        udp_checksum: true,
    };
    Ok(fastlane_testbed::udp_frame(&spec, frame_len as usize).into())
}

/// The MAC address of an interface, as `aa:bb:cc:dd:ee:ff`.
#[napi]
pub fn interface_mac(netns: Option<String>, interface: String) -> error::Result<String> {
    let mac = fastlane_testbed::interface_mac(netns.as_deref(), &interface)
        .map_err(BindingError::from)?;
    Ok(mac_text(mac))
}

#[derive(Debug)]
pub struct Exchange {
    netns: Option<String>,
    interface: String,
    frames: Vec<Vec<u8>>,
    match_udp_port: u16,
    expect: usize,
    timeout: Duration,
}

impl Task for Exchange {
    type Output = Result<Vec<Vec<u8>>, BindingError>;
    type JsValue = Vec<Buffer>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(fastlane_testbed::exchange(
            self.netns.as_deref(),
            &self.interface,
            &self.frames,
            self.match_udp_port,
            self.expect,
            self.timeout,
        )
        .map_err(BindingError::from))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        let frames = output.map_err(|e| error::to_plain_error(env, e))?;
        Ok(frames.into_iter().map(Buffer::from).collect())
    }
}

/// Sends `frames` out of `interface` and resolves with the frames that came back to UDP port
/// `matchUdpPort`, once `expect` have arrived or `timeoutMs` has passed.
#[napi(ts_return_type = "Promise<Buffer[]>")]
pub fn exchange_frames(
    netns: Option<String>,
    interface: String,
    frames: Vec<Buffer>,
    match_udp_port: u32,
    expect: u32,
    timeout_ms: u32,
) -> error::Result<AsyncTask<Exchange>> {
    Ok(AsyncTask::new(Exchange {
        netns,
        interface,
        frames: frames.iter().map(|f| f.to_vec()).collect(),
        match_udp_port: port(match_udp_port, "matchUdpPort")?,
        expect: expect as usize,
        timeout: Duration::from_millis(timeout_ms.into()),
    }))
}

/// A native XDP program that passes every frame on, attached until `detach()`: a veth end
/// delivers frames its peer sends through the XDP path (the generator) only while it has one.
#[napi]
#[derive(Debug)]
pub struct PassThrough {
    attached: Option<fastlane_testbed::PassThrough>,
}

#[napi]
impl PassThrough {
    #[napi(factory)]
    pub fn attach(netns: Option<String>, interface: String) -> error::Result<Self> {
        let attached = fastlane_testbed::PassThrough::attach(netns.as_deref(), &interface)
            .map_err(BindingError::from)?;
        Ok(PassThrough {
            attached: Some(attached),
        })
    }

    #[napi]
    pub fn detach(&mut self) {
        self.attached = None;
    }
}

#[napi(object)]
#[allow(missing_debug_implementations)] // a JavaScript Buffer has no Debug
pub struct LatencyOptions {
    /// Network namespace of the interface.
    pub netns: Option<String>,
    pub interface: String,
    /// IPv4/IPv6 UDP frame with at least 8 bytes of payload; each copy gets its number there.
    pub frame: Buffer,
    /// Frames to send.
    pub count: u32,
    /// At most this many frames per second.
    pub rate_pps: f64,
    /// Reflected frames are recognised by this UDP destination port.
    pub match_udp_port: u32,
}

/// Round-trip times in microseconds (absent when nothing came back) and the frames lost.
#[napi(object)]
#[derive(Debug)]
pub struct LatencyStats {
    pub sent: u32,
    pub received: u32,
    pub lost: u32,
    pub min_us: Option<f64>,
    pub median_us: Option<f64>,
    pub p99_us: Option<f64>,
    pub max_us: Option<f64>,
}

#[derive(Debug)]
pub struct Latency {
    netns: Option<String>,
    interface: String,
    frame: Vec<u8>,
    count: u32,
    rate_pps: u64,
    match_udp_port: u16,
}

impl Task for Latency {
    type Output = Result<fastlane_testbed::latency::LatencyStats, BindingError>;
    type JsValue = LatencyStats;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(fastlane_testbed::latency::measure(
            self.netns.as_deref(),
            &self.interface,
            &self.frame,
            self.count,
            self.rate_pps,
            self.match_udp_port,
        )
        .map_err(BindingError::from))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        let s = output.map_err(|e| error::to_plain_error(env, e))?;
        // Counts are at most `count`, a u32.
        let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        Ok(LatencyStats {
            sent: count(s.sent),
            received: count(s.received),
            lost: count(s.lost),
            min_us: s.rtt.map(|r| r.min_us),
            median_us: s.rtt.map(|r| r.median_us),
            p99_us: s.rtt.map(|r| r.p99_us),
            max_us: s.rtt.map(|r| r.max_us),
        })
    }
}

/// Sends `count` numbered copies of `frame` at `ratePps` and resolves with the round-trip times
/// of those that came back (kernel receive timestamps against the time of each send).
#[napi(ts_return_type = "Promise<LatencyStats>")]
pub fn measure_latency(options: LatencyOptions) -> error::Result<AsyncTask<Latency>> {
    if !(options.rate_pps.is_finite() && options.rate_pps >= 1.0) {
        return Err(BindingError::InvalidArgument(format!(
            "ratePps: {} is not a rate of at least 1 packet per second",
            options.rate_pps
        ))
        .into());
    }
    Ok(AsyncTask::new(Latency {
        netns: options.netns,
        interface: options.interface,
        frame: options.frame.to_vec(),
        count: options.count,
        rate_pps: options.rate_pps as u64,
        match_udp_port: port(options.match_udp_port, "matchUdpPort")?,
    }))
}
