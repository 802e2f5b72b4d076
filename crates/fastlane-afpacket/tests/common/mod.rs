//! Two network namespaces joined by a veth pair, removed on drop (even when the test fails); a
//! hand-written macswap forwarder; and a capture socket for the generator's side.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastlane_afpacket::AfPacketThread;
use fastlane_core::{wire, Batch, Class, FilterTables, QueueCounters, ThreadIo, Verdict};

pub fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Namespaces `{name}g` (generator, veth `{name}g0`, 10.79.`subnet`.1) and `{name}f` (forwarder,
/// veth `{name}f0`, 10.79.`subnet`.2), both up.
pub struct Testbed {
    pub name: String,
    pub subnet: u8,
}

impl Testbed {
    /// The test bed of a parent process, for its child: not removed on drop.
    pub fn borrowed(name: &str, subnet: u8) -> std::mem::ManuallyDrop<Testbed> {
        std::mem::ManuallyDrop::new(Testbed {
            name: name.to_string(),
            subnet,
        })
    }

    pub fn new(name: &str, subnet: u8) -> Testbed {
        assert!(name.starts_with("flk") && name.len() <= 12);
        let bed = Testbed {
            name: name.to_string(),
            subnet,
        };
        for ns in [bed.gen(), bed.fwd()] {
            // A namespace left by an earlier, killed run.
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
            ip(&["netns", "add", &ns]);
        }
        let (g, f) = (bed.gen_veth(), bed.fwd_veth());
        ip(&["link", "add", &g, "type", "veth", "peer", "name", &f]);
        ip(&["link", "set", &g, "netns", &bed.gen()]);
        ip(&["link", "set", &f, "netns", &bed.fwd()]);
        for (ns, veth, addr) in [
            (bed.gen(), &g, bed.gen_addr()),
            (bed.fwd(), &f, bed.fwd_addr()),
        ] {
            ip(&["-n", &ns, "addr", "add", &format!("{addr}/24"), "dev", veth]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&["-n", &ns, "link", "set", veth, "up"]);
        }
        bed
    }

    pub fn gen(&self) -> String {
        format!("{}g", self.name)
    }
    pub fn fwd(&self) -> String {
        format!("{}f", self.name)
    }
    pub fn gen_veth(&self) -> String {
        format!("{}g0", self.name)
    }
    pub fn fwd_veth(&self) -> String {
        format!("{}f0", self.name)
    }
    pub fn gen_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 79, self.subnet, 1)
    }
    pub fn fwd_addr(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 79, self.subnet, 2)
    }

    pub fn in_gen<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        fastlane_core::netns::run_in(Some(&self.gen()), work).expect("enter the generator")
    }
    pub fn in_fwd<T: Send>(&self, work: impl FnOnce() -> T + Send) -> T {
        fastlane_core::netns::run_in(Some(&self.fwd()), work).expect("enter the forwarder")
    }

    pub fn mac(&self, ns: &str, veth: &str) -> [u8; 6] {
        let out = ip(&["-n", ns, "link", "show", "dev", veth]);
        let text = out
            .split("link/ether ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no MAC in {out}"));
        let mut mac = [0u8; 6];
        for (byte, hex) in mac.iter_mut().zip(text.split(':')) {
            *byte = u8::from_str_radix(hex, 16).unwrap();
        }
        mac
    }

    /// `ping -c count` from the generator to the forwarder's address; whether all came back.
    pub fn ping(&self, count: u32) -> bool {
        Command::new("ip")
            .args(["netns", "exec", &self.gen(), "ping", "-q", "-c"])
            .arg(count.to_string())
            .args(["-i", "0.2", "-W", "2"])
            .arg(self.fwd_addr().to_string())
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run ping")
            .success()
    }

    /// A counter of the forwarder's kernel UDP statistics (`/proc/net/snmp`, e.g. `NoPorts`).
    pub fn fwd_udp_stat(&self, name: &str) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.fwd(), "cat", "/proc/net/snmp"])
            .output()
            .expect("read /proc/net/snmp");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut udp = text.lines().filter(|l| l.starts_with("Udp: "));
        let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
        let at = names.split_whitespace().position(|n| n == name).unwrap();
        values.split_whitespace().nth(at).unwrap().parse().unwrap()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth end, and with it the pair and any program.
        for ns in [self.gen(), self.fwd()] {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
    }
}

/// Runs a macswap forwarder over `io` on its own thread, as the runtime would: receive a burst,
/// swap the MACs of every packet and send it back, complete; wait when a round brought nothing.
/// With `classify` (for a shared split), frames of the slow path are left to the kernel.
pub struct Forwarder {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<AfPacketThread>>,
    pub counters: Arc<Vec<QueueCounters>>,
}

impl Forwarder {
    pub fn start(mut io: AfPacketThread, classify: Option<Box<FilterTables>>) -> Forwarder {
        let stop = Arc::new(AtomicBool::new(false));
        let counters: Arc<Vec<QueueCounters>> = Arc::new(
            io.queues()
                .iter()
                .map(|_| QueueCounters::default())
                .collect(),
        );
        let handle = {
            let (stop, counters) = (stop.clone(), counters.clone());
            std::thread::spawn(move || {
                let mut batch = Batch::with_capacity(32);
                while !stop.load(Ordering::Relaxed) {
                    let mut got = 0;
                    for source in 0..io.queues().len() {
                        let n = io.receive(source, &mut batch, &counters[source]);
                        got += n;
                        for mut packet in batch.iter_mut() {
                            let slow = classify
                                .as_ref()
                                .is_some_and(|t| t.classify(packet.data()) != Class::Fast);
                            let verdict = if slow {
                                Verdict::Kernel
                            } else if wire::swap_macs(packet.data_mut()) {
                                Verdict::Transmit
                            } else {
                                Verdict::Kernel
                            };
                            packet.set_verdict(verdict);
                        }
                        io.complete(source, &mut batch, &counters);
                    }
                    if got == 0 {
                        io.idle(&[]);
                    }
                }
                io
            })
        };
        Forwarder {
            stop,
            handle: Some(handle),
            counters,
        }
    }

    /// Waits until `done` holds of the counters, or `timeout`.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[QueueCounters]) -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if done(&self.counters) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        done(&self.counters)
    }

    /// Stops the forwarder; returns its packet I/O and its counters.
    pub fn stop(mut self) -> (AfPacketThread, Arc<Vec<QueueCounters>>) {
        self.stop.store(true, Ordering::Relaxed);
        let io = self
            .handle
            .take()
            .unwrap()
            .join()
            .expect("the forwarder panicked");
        (io, self.counters.clone())
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// An AF_PACKET socket that records every frame arriving on an interface (not those leaving).
pub struct Capture {
    fd: OwnedFd,
}

impl Capture {
    /// Opens the capture on `interface` of the calling thread's namespace.
    pub fn open(interface: &str) -> Capture {
        let ifindex = std::ffi::CString::new(interface).unwrap();
        // SAFETY: a valid NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(ifindex.as_ptr()) };
        assert!(ifindex > 0, "no interface {interface}");
        let protocol = (libc::ETH_P_ALL as u16).to_be() as libc::c_int;
        // SAFETY: plain syscall; the result is checked and owned right away.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, protocol) };
        assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let one: libc::c_int = 1;
        // SAFETY: an int option of the right size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_IGNORE_OUTGOING,
                (&one as *const libc::c_int).cast(),
                4,
            )
        };
        assert_eq!(rc, 0, "PACKET_IGNORE_OUTGOING");
        let timeout = libc::timeval {
            tv_sec: 0,
            tv_usec: 100_000,
        };
        // SAFETY: a timeval option of the right size.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "SO_RCVTIMEO");
        // SAFETY: sockaddr_ll is plain data.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = protocol as u16;
        addr.sll_ifindex = ifindex as i32;
        // SAFETY: a valid sockaddr_ll of the length passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
        Capture { fd }
    }

    /// Sends `frame` out of the interface as it is.
    pub fn send(&self, frame: &[u8]) {
        // SAFETY: `frame` is valid for reads of its length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            n,
            frame.len() as isize,
            "send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// Every frame received until `quiet` passes without one.
    pub fn frames(&self, quiet: Duration) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let mut last = Instant::now();
        let mut buf = vec![0u8; 65536];
        while last.elapsed() < quiet {
            // SAFETY: `buf` is valid for writes of its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n > 0 {
                frames.push(buf[..n as usize].to_vec());
                last = Instant::now();
            }
        }
        frames
    }
}

/// Whether `frame` is IPv4/UDP to `port` from MAC `src` to MAC `dst`.
pub fn is_udp_to(frame: &[u8], port: u16, src: [u8; 6], dst: [u8; 6]) -> bool {
    frame.len() >= 42
        && frame[0..6] == dst
        && frame[6..12] == src
        && frame[12..14] == [0x08, 0x00]
        && frame[23] == 17
        && u16::from_be_bytes([frame[36], frame[37]]) == port
}

/// Whether `frame` is an ICMP destination unreachable (port unreachable) from MAC `src`.
pub fn is_port_unreachable(frame: &[u8], src: [u8; 6]) -> bool {
    frame.len() >= 36
        && frame[6..12] == src
        && frame[12..14] == [0x08, 0x00]
        && frame[23] == 1
        && frame[34] == 3
        && frame[35] == 3
}
