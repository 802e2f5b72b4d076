//! The traffic generator: `fl_gen` run in live-frames mode from a thread inside the namespace,
//! `fl_sink` on the same interface counting what returns.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aya::Ebpf;

use crate::frame::MIN_FRAME_LEN;
use crate::programs::{self, GEN_HEADER_LEN};
use crate::TestbedError;

/// What to send, where, and how fast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratorConfig {
    /// Network namespace of `interface` (`None`: the caller's).
    pub netns: Option<String>,
    /// Frames leave through this interface (and return to it unless `returns` says otherwise).
    pub interface: String,
    /// The frames sent, each in turn, over and over: at least one, each at least 60 bytes
    /// (without FCS), all of the same length and alike after their first [`MAX_FRAME_HEADER`]
    /// bytes, where they may differ (addresses, ports, tunnel ids, checksums). Cycling costs no
    /// more per frame than sending one: `fl_gen` writes that many bytes of every frame anyway.
    pub frames: Vec<Vec<u8>>,
    /// The CPU the sending thread is pinned to.
    pub core: Option<u16>,
    /// Returning IPv4/IPv6 UDP frames to this destination port are counted and dropped.
    pub match_udp_port: u16,
    /// Where returning frames are counted, when not on `interface`: a forwarder that sends
    /// them out of another port (a router, a UPF between its N3 and N6 sides).
    pub returns: Option<ReturnPath>,
    /// Packets per second, on average over a few tenths of a second: a test run cannot space its
    /// frames, so they leave in bursts at full speed, one burst per `BPF_PROG_RUN` call (at
    /// least 10 ms worth). `None` sends as fast as one core can.
    pub rate_pps: Option<u64>,
}

/// The interface on which a generator counts what comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnPath {
    /// Network namespace of `interface` (`None`: the caller's).
    pub netns: Option<String>,
    pub interface: String,
}

/// Bytes at the start of a generator's frames in which they may differ from one another.
pub const MAX_FRAME_HEADER: usize = GEN_HEADER_LEN;
/// The most frames a generator cycles over (128 bytes of map each).
pub const MAX_FRAMES: usize = 1 << 20;

/// Checks `frames` against the rules of [`GeneratorConfig::frames`].
fn check_frames(frames: &[Vec<u8>]) -> Result<(), TestbedError> {
    let Some(first) = frames.first() else {
        return Err(TestbedError::Frames("none given".into()));
    };
    if first.len() < MIN_FRAME_LEN {
        return Err(TestbedError::BadFrame {
            len: first.len(),
            reason: "shorter than the 60 bytes of a minimal Ethernet frame",
        });
    }
    if frames.len() > MAX_FRAMES {
        return Err(TestbedError::Frames(format!(
            "{} given, at most {MAX_FRAMES}",
            frames.len()
        )));
    }
    let tail = first.len().min(MAX_FRAME_HEADER);
    for (index, frame) in frames.iter().enumerate().skip(1) {
        if frame.len() != first.len() {
            return Err(TestbedError::Frames(format!(
                "frame {index} has {} bytes, frame 0 {}: all must have the same length",
                frame.len(),
                first.len()
            )));
        }
        if let Some(offset) = (tail..first.len()).find(|&i| frame[i] != first[i]) {
            return Err(TestbedError::Frames(format!(
                "frame {index} differs from frame 0 at byte {offset}: frames may differ only in \
                 their first {MAX_FRAME_HEADER} bytes"
            )));
        }
    }
    Ok(())
}

/// Counters since the generator started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeneratorStats {
    /// Frames `fl_gen` handed to the interface for transmission. A veth drops what its peer's
    /// ring has no room for after this point.
    pub sent_packets: u64,
    /// Matching frames that came back to the interface.
    pub returned_packets: u64,
    pub returned_bytes: u64,
}

/// How long one full-speed `BPF_PROG_RUN` should last. Each call carries a fixed cost of 20-75 ms
/// on this kind of VM (the live-frames teardown waits out an RCU grace period), whatever its
/// `repeat`: measured at 64 B, 50 ms calls reach about half the rate of 400 ms calls, 200 ms
/// calls about 90%. Stopping waits for the current call.
const CALL_TARGET: Duration = Duration::from_millis(200);
/// The first full-speed call, which measures how fast runs go.
const FIRST_REPEAT: u32 = 1 << 16;
const MIN_REPEAT: u32 = 256;
const MAX_REPEAT: u32 = 1 << 26;
/// A paced generator sends one burst per slice at most (at full speed: a test run cannot space
/// its frames), in practice one per call since a call's fixed cost exceeds the slice...
const PACE_SLICE: Duration = Duration::from_millis(10);
/// ...and never more than this much time's worth at once: near its capacity a paced generator
/// needs bursts of several call costs' worth to keep up; beyond that it gives up the backlog.
const PACE_MAX_BURST: Duration = Duration::from_millis(500);
/// After the last run, frames still in flight get this long to come back before the final count.
const SETTLE: Duration = Duration::from_millis(20);

/// A running generator. Dropping it stops the sending thread and detaches the sink.
#[derive(Debug)]
pub struct Generator {
    interface: String,
    stop: Arc<AtomicBool>,
    sender: Option<JoinHandle<Result<(), TestbedError>>>,
    gen_counts: OwnedFd,
    sink_counts: OwnedFd,
    possible_cpus: usize,
    /// Owns `fl_gen` and the attached `fl_sink`; dropping it detaches the sink.
    _programs: Ebpf,
}

impl Generator {
    /// Attaches the sink, starts the sending thread, and returns once the first frames are out.
    pub fn start(mut cfg: GeneratorConfig) -> Result<Generator, TestbedError> {
        check_frames(&cfg.frames)?;
        if cfg.rate_pps == Some(0) {
            return Err(TestbedError::ZeroRate);
        }
        let interface = cfg.interface.clone();
        let possible_cpus = aya::util::nr_cpus()
            .map_err(|(_, source)| TestbedError::sys("read possible CPUs", &interface, source))?;

        // At most MAX_FRAMES (2^20): fits.
        let mut ebpf = programs::open_generator(cfg.frames.len() as u32)?;
        let headers = cfg.frames.iter().map(|frame| {
            let mut header = [0u8; GEN_HEADER_LEN];
            let n = frame.len().min(GEN_HEADER_LEN);
            header[..n].copy_from_slice(&frame[..n]);
            header
        });
        programs::set_all(&mut ebpf, programs::GEN_FRAMES, headers)?;
        programs::set(
            &mut ebpf,
            programs::SINK_PORT,
            u32::from(cfg.match_udp_port),
        )?;
        let gen_counts = programs::percpu_array_fd(&ebpf, programs::GEN_COUNTS)?;
        let sink_counts = programs::percpu_array_fd(&ebpf, programs::SINK_COUNTS)?;
        let gen_fd = programs::load(&mut ebpf, programs::GEN, &interface)?
            .fd()
            .map_err(|source| TestbedError::Program {
                action: "find the descriptor of",
                program: programs::GEN,
                interface: interface.clone(),
                source: Box::new(source),
            })?
            .as_fd()
            .try_clone_to_owned()
            .map_err(|source| TestbedError::sys("dup (fl_gen)", &interface, source))?;
        let (sink_netns, sink_interface) = match &cfg.returns {
            Some(path) => (path.netns.as_deref(), path.interface.as_str()),
            None => (cfg.netns.as_deref(), interface.as_str()),
        };
        programs::attach_native(&mut ebpf, programs::SINK, sink_netns, sink_interface)?;

        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let sender = Sender {
            prog: gen_fd,
            // The kernel copies this one into every page once; fl_gen writes each frame's header.
            frame: cfg.frames.swap_remove(0),
            interface: interface.clone(),
            core: cfg.core,
            rate_pps: cfg.rate_pps,
            stop: stop.clone(),
            ready: Some(ready_tx),
        };
        let netns = cfg.netns;
        let thread = std::thread::Builder::new()
            .name("fl-generator".into())
            .spawn(move || fastlane_core::netns::run_in(netns.as_deref(), || sender.run())?)
            .map_err(|source| {
                TestbedError::sys("spawn the generator thread", &interface, source)
            })?;
        let mut generator = Generator {
            interface,
            stop,
            sender: Some(thread),
            gen_counts,
            sink_counts,
            possible_cpus,
            _programs: ebpf,
        };
        // The sender signals after its first successful run; if it ends first, it failed.
        if ready_rx.recv().is_err() {
            generator.halt()?;
        }
        Ok(generator)
    }

    /// Counters so far; cheap enough to poll while the generator runs.
    pub fn stats(&self) -> GeneratorStats {
        // Looking up key 0 of an array this generator created cannot fail while it holds the
        // descriptors; zeroes would only show up as an obviously dead generator.
        let [sent_packets, _] =
            percpu_sums::<2>(self.gen_counts.as_fd(), self.possible_cpus).unwrap_or([0; 2]);
        let [returned_packets, returned_bytes] =
            percpu_sums::<2>(self.sink_counts.as_fd(), self.possible_cpus).unwrap_or([0; 2]);
        GeneratorStats {
            sent_packets,
            returned_packets,
            returned_bytes,
        }
    }

    /// Stops sending, lets frames in flight return, detaches the sink and returns the final
    /// counters (or the error that stopped the sending thread).
    pub fn stop(mut self) -> Result<GeneratorStats, TestbedError> {
        self.halt()?;
        std::thread::sleep(SETTLE);
        Ok(self.stats())
    }

    /// Stops the sending thread and returns how it ended.
    fn halt(&mut self) -> Result<(), TestbedError> {
        self.stop.store(true, Ordering::Relaxed);
        let Some(thread) = self.sender.take() else {
            return Ok(());
        };
        thread.join().map_err(|_| TestbedError::GeneratorPanicked {
            interface: self.interface.clone(),
        })?
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        // An error of the sending thread has nowhere to go from here; stop() reports it.
        let _ = self.halt();
    }
}

/// The sum over all CPUs of entry 0 of a per-CPU array whose values are `N` u64 counters.
fn percpu_sums<const N: usize>(
    map: BorrowedFd<'_>,
    possible_cpus: usize,
) -> fastlane_sys::SysResult<[u64; N]> {
    // Per-CPU values are laid out one after another, each rounded up to 8 bytes.
    let mut values = vec![0u8; N * 8 * possible_cpus];
    fastlane_sys::bpf::map_lookup(map, &0u32.to_ne_bytes(), &mut values)?;
    let mut sums = [0u64; N];
    for cpu in values.chunks_exact(N * 8) {
        for (sum, v) in sums.iter_mut().zip(cpu.chunks_exact(8)) {
            *sum += u64::from_ne_bytes(v.try_into().expect("8-byte chunk"));
        }
    }
    Ok(sums)
}

/// The sending thread's state; runs inside the interface's namespace, where `BPF_PROG_RUN`
/// resolves the ingress interface index.
struct Sender {
    prog: OwnedFd,
    frame: Vec<u8>,
    interface: String,
    core: Option<u16>,
    rate_pps: Option<u64>,
    stop: Arc<AtomicBool>,
    ready: Option<mpsc::Sender<()>>,
}

impl Sender {
    fn run(mut self) -> Result<(), TestbedError> {
        if let Some(core) = self.core {
            fastlane_sys::cpu::pin_current_thread(usize::from(core))
                .map_err(|e| TestbedError::sys("sched_setaffinity", &self.interface, e))?;
        }
        let ifindex = fastlane_sys::netdev::if_index(&self.interface)
            .map_err(|e| TestbedError::sys("if_nametoindex", &self.interface, e))?;
        match self.rate_pps {
            None => self.full_speed(ifindex),
            Some(pps) => self.paced(ifindex, pps),
        }
    }

    fn send(&mut self, ifindex: u32, repeat: u32) -> Result<(), TestbedError> {
        fastlane_sys::bpf::xdp_run_live(self.prog.as_fd(), &self.frame, ifindex, repeat)
            .map_err(|e| TestbedError::sys("BPF_PROG_RUN (XDP live frames)", &self.interface, e))?;
        if let Some(ready) = self.ready.take() {
            // The receiver only disappears once start() returned; nobody waits then.
            let _ = ready.send(());
        }
        Ok(())
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Calls as long as [`CALL_TARGET`], sized from how long the previous one took.
    fn full_speed(&mut self, ifindex: u32) -> Result<(), TestbedError> {
        let mut repeat = FIRST_REPEAT;
        while !self.stopping() {
            let started = Instant::now();
            self.send(ifindex, repeat)?;
            let took = started.elapsed().as_nanos().max(1);
            let scaled = u128::from(repeat) * CALL_TARGET.as_nanos() / took;
            // At most 4x either way per call, so one disturbed call cannot derail the size.
            repeat = (scaled.clamp(u128::from(repeat / 4), u128::from(repeat) * 4) as u32)
                .clamp(MIN_REPEAT, MAX_REPEAT);
        }
        Ok(())
    }

    /// Sends what the schedule owes in bursts of at least one slice's worth, sleeping between.
    fn paced(&mut self, ifindex: u32, pps: u64) -> Result<(), TestbedError> {
        let worth = |d: Duration| (u128::from(pps) * d.as_nanos() / 1_000_000_000) as u64;
        let min_burst = worth(PACE_SLICE).max(1);
        let max_burst = worth(PACE_MAX_BURST).clamp(min_burst, u64::from(MAX_REPEAT));
        let started = Instant::now();
        let mut scheduled: u64 = 0;
        while !self.stopping() {
            let mut owed = worth(started.elapsed()).saturating_sub(scheduled);
            if owed < min_burst {
                let wait_ns = (min_burst - owed) as u128 * 1_000_000_000 / u128::from(pps);
                std::thread::sleep(Duration::from_nanos(wait_ns as u64).min(PACE_SLICE));
                continue;
            }
            if owed > max_burst {
                // Behind schedule: give up the backlog rather than flood to catch up.
                scheduled += owed - max_burst;
                owed = max_burst;
            }
            self.send(ifindex, owed as u32)?;
            scheduled += owed;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: usize, len: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| vec![i as u8; len]).collect()
    }

    fn refusal(frames: &[Vec<u8>]) -> String {
        check_frames(frames).unwrap_err().to_string()
    }

    #[test]
    fn frames_may_differ_only_in_their_headers() {
        // Short frames are all header: they may differ anywhere.
        check_frames(&frames(3, 60)).unwrap();
        check_frames(&frames(1, MAX_FRAME_HEADER + 1)).unwrap();
        let mut alike_tails = frames(3, 1400);
        for f in &mut alike_tails {
            f[MAX_FRAME_HEADER..].fill(0xee);
        }
        check_frames(&alike_tails).unwrap();

        let mut late = alike_tails.clone();
        late[2][MAX_FRAME_HEADER + 10] = 0;
        assert_eq!(
            refusal(&late),
            "generator frames: frame 2 differs from frame 0 at byte 138: frames may differ only \
             in their first 128 bytes"
        );
        let mut longer = frames(2, 100);
        longer[1].push(0);
        assert_eq!(
            refusal(&longer),
            "generator frames: frame 1 has 101 bytes, frame 0 100: all must have the same length"
        );
        assert_eq!(refusal(&[]), "generator frames: none given");
        assert!(matches!(
            check_frames(&frames(2, 59)),
            Err(TestbedError::BadFrame { len: 59, .. })
        ));
        assert_eq!(
            refusal(&vec![vec![0; 60]; MAX_FRAMES + 1]),
            format!(
                "generator frames: {} given, at most {MAX_FRAMES}",
                MAX_FRAMES + 1
            )
        );
    }
}
