//! A veth test bed for the AF_XDP backend: a generator namespace and a forwarder namespace joined
//! by veth pairs, native XDP programs on both ends, and an AF_PACKET socket to send and receive
//! test frames on the generator side. Needs root; everything is removed on drop.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aya::maps::XskMap;
use aya::programs::{Xdp, XdpFlags};
use aya::Ebpf;
use fastlane_core::netns::run_in;

/// Marks the test frames' UDP payload.
pub const MAGIC: &[u8; 6] = b"FLAXDP";
const ETH_P_ALL: u16 = 0x0003;
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip(8)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace, deleted (with its veth ends) on drop.
pub struct Netns(pub String);

impl Netns {
    fn new(name: String) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// The compiled test XDP object (once per test process).
fn bpf_object() -> &'static PathBuf {
    static OBJECT: OnceLock<PathBuf> = OnceLock::new();
    OBJECT.get_or_init(|| {
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/redirect.bpf.c");
        let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("fla-redirect-{}.o", std::process::id()));
        let status = Command::new("clang")
            .args([
                "-O2",
                "-g",
                "-target",
                "bpf",
                "-I/usr/include/x86_64-linux-gnu",
                "-c",
            ])
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .status()
            .expect("run clang");
        assert!(status.success(), "clang failed on {}", src.display());
        out
    })
}

/// Loads the test object and attaches program `name` in native mode to `iface` in `netns`. The
/// attachment is a bpf_link owned by the returned object: dropping it detaches the program.
fn attach(netns: &str, iface: &str, name: &str) -> Ebpf {
    let mut ebpf = Ebpf::load_file(bpf_object()).expect("load test XDP object");
    let prog: &mut Xdp = ebpf
        .program_mut(name)
        .expect("program in object")
        .try_into()
        .expect("an XDP program");
    prog.load().expect("load XDP program");
    run_in(Some(netns), || prog.attach(iface, XdpFlags::DRV_MODE))
        .expect("enter namespace")
        .unwrap_or_else(|e| panic!("attach {name} to {iface} (native): {e:?}"));
    ebpf
}

/// One veth pair: `gen` end in the generator namespace, `fwd` end in the forwarder namespace.
pub struct Pair {
    pub gen: String,
    pub fwd: String,
    pub gen_mac: [u8; 6],
    pub fwd_mac: [u8; 6],
    /// The forwarder end's program and XSKMAP.
    pub redirect: Ebpf,
    _pass: Ebpf,
}

impl Pair {
    /// Puts socket `fd` into the forwarder end's XSKMAP at `queue`.
    pub fn register_socket(&mut self, queue: u16, fd: std::os::fd::RawFd) {
        let mut map: XskMap<_> = self
            .redirect
            .map_mut("xsks")
            .expect("xsks map")
            .try_into()
            .expect("an XSKMAP");
        // SAFETY: `fd` is an open AF_XDP socket for the duration of this call.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        map.set(queue as u32, fd, 0).expect("set XSKMAP entry");
    }
}

/// The two namespaces and the pairs between them. Field order matters: the programs go before
/// the namespaces.
pub struct Bed {
    pub pairs: Vec<Pair>,
    pub gen: Netns,
    pub fwd: Netns,
}

impl Bed {
    /// `tag` (one letter) keeps the names of concurrently running tests apart.
    pub fn new(tag: char, pairs: usize) -> Bed {
        let pid = std::process::id() % 100_000;
        let gen = Netns::new(format!("fla-{tag}{pid}-gen"));
        let fwd = Netns::new(format!("fla-{tag}{pid}-fwd"));
        let mut bed = Bed {
            pairs: Vec::new(),
            gen,
            fwd,
        };
        for n in 0..pairs {
            let gen_if = format!("fla{tag}{pid}g{n}");
            let fwd_if = format!("fla{tag}{pid}f{n}");
            let gen_mac = [0x02, 0, 0, 0x77, n as u8, 1];
            let fwd_mac = [0x02, 0, 0, 0x77, n as u8, 2];
            ip(&[
                "-n",
                &bed.gen.0,
                "link",
                "add",
                &gen_if,
                "address",
                &mac(&gen_mac),
                "type",
                "veth",
                "peer",
                "name",
                &fwd_if,
                "address",
                &mac(&fwd_mac),
                "netns",
                &bed.fwd.0,
            ]);
            ip(&["-n", &bed.gen.0, "link", "set", &gen_if, "up"]);
            ip(&["-n", &bed.fwd.0, "link", "set", &fwd_if, "up"]);
            let redirect = attach(&bed.fwd.0, &fwd_if, "redirect_udp");
            let pass = attach(&bed.gen.0, &gen_if, "pass");
            bed.pairs.push(Pair {
                gen: gen_if,
                fwd: fwd_if,
                gen_mac,
                fwd_mac,
                redirect,
                _pass: pass,
            });
        }
        bed
    }

    /// Brings pair `n`'s forwarder end up or down.
    pub fn set_forwarder_link(&self, n: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.fwd.0, "link", "set", &self.pairs[n].fwd, state]);
    }

    /// An AF_PACKET socket on pair `n`'s generator end.
    pub fn generator(&self, n: usize) -> Generator {
        let iface = self.pairs[n].gen.clone();
        run_in(Some(&self.gen.0), || Generator::open(&iface)).expect("enter generator namespace")
    }
}

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A raw packet socket on one interface, seeing only what arrives.
pub struct Generator {
    fd: OwnedFd,
    ifindex: i32,
}

impl Generator {
    fn open(iface: &str) -> Generator {
        let name = std::ffi::CString::new(iface).unwrap();
        // SAFETY: `name` is NUL-terminated.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) } as i32;
        assert!(ifindex > 0, "no interface {iface}");
        // SAFETY: plain syscall.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                ETH_P_ALL.to_be() as i32,
            )
        };
        assert!(
            raw >= 0,
            "socket(AF_PACKET): {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: `raw` was just returned by socket().
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let one: libc::c_int = 1;
        // SAFETY: `one` is a live c_int and its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_PACKET,
                PACKET_IGNORE_OUTGOING,
                (&one as *const libc::c_int).cast(),
                4,
            )
        };
        assert_eq!(
            rc,
            0,
            "PACKET_IGNORE_OUTGOING: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: sockaddr_ll is plain data; zero is valid.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = ETH_P_ALL.to_be();
        addr.sll_ifindex = ifindex;
        // SAFETY: `addr` is a complete sockaddr_ll and its size is passed.
        let rc = unsafe {
            libc::bind(
                raw,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(rc, 0, "bind AF_PACKET: {}", std::io::Error::last_os_error());
        Generator { fd, ifindex }
    }

    pub fn send(&self, frame: &[u8]) {
        // SAFETY: sockaddr_ll is plain data; zero is valid.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = self.ifindex;
        addr.sll_halen = 6;
        addr.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: `frame` and `addr` are valid for the lengths passed.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(
            n,
            frame.len() as isize,
            "send: {}",
            std::io::Error::last_os_error()
        );
    }

    /// The next test frame (one carrying `MAGIC`) to arrive within `timeout`.
    pub fn recv_test_frame(&self, timeout: Duration) -> Option<Vec<u8>> {
        self.recv_matching(timeout, |f| test_seq(f).is_some())
    }

    /// The next frame `wanted` accepts to arrive within `timeout`.
    pub fn recv_matching(
        &self,
        timeout: Duration,
        wanted: impl Fn(&[u8]) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 4096];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let mut pfd = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
            if ready <= 0 {
                continue;
            }
            // SAFETY: `buf` is valid for its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 && wanted(&buf[..n as usize]) {
                return Some(buf[..n as usize].to_vec());
            }
        }
    }
}

/// An Ethernet/IPv4/UDP test frame from `src` to `dst` carrying `MAGIC` and `seq`, padded to
/// `len` bytes.
pub fn test_frame(dst: &[u8; 6], src: &[u8; 6], seq: u32, len: usize) -> Vec<u8> {
    assert!(len >= 14 + 20 + 8 + 10);
    let mut f = vec![0u8; len];
    f[0..6].copy_from_slice(dst);
    f[6..12].copy_from_slice(src);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (len - 14) as u16;
    let ipv4 = &mut f[14..34];
    ipv4[0] = 0x45;
    ipv4[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ipv4[8] = 64;
    ipv4[9] = 17;
    ipv4[12..16].copy_from_slice(&[10, 77, 0, 1]);
    ipv4[16..20].copy_from_slice(&[10, 77, 0, 2]);
    let sum = ipv4
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ipv4[10..12].copy_from_slice(&sum.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    udp[2..4].copy_from_slice(&9u16.to_be_bytes());
    udp[4..6].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f[42..48].copy_from_slice(MAGIC);
    f[48..52].copy_from_slice(&seq.to_be_bytes());
    f
}

/// The sequence number of a test frame, `None` for any other frame.
pub fn test_seq(frame: &[u8]) -> Option<u32> {
    if frame.len() >= 52 && &frame[42..48] == MAGIC {
        Some(u32::from_be_bytes(frame[48..52].try_into().unwrap()))
    } else {
        None
    }
}
