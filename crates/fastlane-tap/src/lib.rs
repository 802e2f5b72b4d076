//! The kernel slow path for backends that take a whole port (DPDK, AF_PACKET).
//!
//! Frames that miss the fast-path filter are written into a multi-queue TAP device that looks
//! like the port to the kernel (same MAC, the configured addresses and MTU); what the kernel sends
//! on the TAP is read back and transmitted out of the port. Each data-plane thread owns one
//! [`TapQueue`] next to its port queue. The tun driver picks the queue a kernel frame goes to by
//! flow hash, so every thread must read its own queue.

mod netlink;

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Duration;

use fastlane_core::config::{parse_cidr, parse_mac, TapConfig};
use fastlane_sys::{netdev, netlink as rtnetlink, tun, SysError};

/// The most frames one [`TapQueue::read_frames`] call returns.
pub const MAX_READ_BURST: usize = 64;

/// The longest interface name the kernel takes.
const MAX_NAME_LEN: usize = libc::IFNAMSIZ - 1;
/// Room for an Ethernet header and two VLAN tags around an MTU-sized packet.
const FRAME_OVERHEAD: usize = 14 + 2 * 4;
/// How long to wait for the kernel to acknowledge a netlink request.
const NETLINK_TIMEOUT: Duration = Duration::from_secs(5);

/// `fl-` followed by the interface name, cut to the 15 characters an interface name may have.
pub fn default_tap_name(interface: &str) -> String {
    let mut name = String::from("fl-");
    for c in interface.chars() {
        if name.len() + c.len_utf8() > MAX_NAME_LEN {
            break;
        }
        name.push(c);
    }
    name
}

/// Why the TAP device could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TapError {
    #[error("TAP device name {name:?} is invalid: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("TAP device {device}: MAC address {mac:?} is not a unicast Ethernet address")]
    InvalidMac { device: String, mac: String },
    #[error("TAP device {device}: address {address:?} is not an address/prefix")]
    InvalidAddress { device: String, address: String },
    #[error("TAP device {device}: a TAP needs at least one queue")]
    NoQueues { device: String },
    #[error("TAP device {device}: a network device with this name already exists")]
    Exists { device: String },
    #[error("TAP device {device}: {operation}: {source}")]
    Os {
        device: String,
        operation: String,
        source: io::Error,
    },
    #[error(
        "{device}: netlink {request} {address}/{prefix}: {source}{}",
        kernel_text(.message)
    )]
    Netlink {
        device: String,
        /// `RTM_NEWADDR` or `RTM_DELADDR`.
        request: &'static str,
        address: IpAddr,
        prefix: u8,
        source: io::Error,
        /// The kernel's extended-ack text.
        message: Option<String>,
    },
    #[error("{device}: netlink RTM_GETADDR dump: {source}")]
    AddressDump { device: String, source: io::Error },
    #[error("interface {device}: {operation}: {source}")]
    Interface {
        device: String,
        operation: &'static str,
        source: io::Error,
    },
}

fn kernel_text(message: &Option<String>) -> String {
    message
        .as_ref()
        .map(|text| format!(" ({text})"))
        .unwrap_or_default()
}

/// What the TAP device should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapSpec {
    pub name: String,
    pub mac: [u8; 6],
    /// Addresses and prefix lengths.
    pub addresses: Vec<(IpAddr, u8)>,
    /// `None` keeps the kernel's default (1500).
    pub mtu: Option<u32>,
    /// One per data-plane thread that serves the port.
    pub queues: usize,
}

impl TapSpec {
    /// The TAP of a port from the port's `tap` config section: the name defaults to
    /// [`default_tap_name`] of `interface`, the MAC to the port's own.
    pub fn from_config(
        config: &TapConfig,
        interface: &str,
        port_mac: [u8; 6],
        queues: usize,
    ) -> Result<TapSpec, TapError> {
        let name = config
            .name
            .clone()
            .unwrap_or_else(|| default_tap_name(interface));
        let mac = match &config.mac {
            Some(text) => parse_mac(text).ok_or_else(|| TapError::InvalidMac {
                device: name.clone(),
                mac: text.clone(),
            })?,
            None => port_mac,
        };
        let addresses = config
            .addresses
            .iter()
            .map(|text| {
                parse_cidr(text).ok_or_else(|| TapError::InvalidAddress {
                    device: name.clone(),
                    address: text.clone(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(TapSpec {
            name,
            mac,
            addresses,
            mtu: config.mtu,
            queues,
        })
    }
}

/// Checks a name the way the kernel will, so that a bad one is reported as such rather than as
/// an `EINVAL` from `TUNSETIFF`.
fn check_name(name: &str) -> Result<(), TapError> {
    let reason = if name.is_empty() {
        Some("it is empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("it is longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("it is a path component")
    } else if name
        .chars()
        .any(|c| c == '/' || c == ':' || c == '%' || c.is_whitespace() || c == '\0')
    {
        Some("it contains '/', ':', '%', NUL or white space")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(TapError::InvalidName {
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// A multi-queue TAP device. Dropping it closes the queues not taken; the kernel removes the
/// device once every queue's descriptor is closed.
#[derive(Debug)]
pub struct Tap {
    name: String,
    queues: Vec<Option<OwnedFd>>,
    max_frame_len: usize,
}

impl Tap {
    /// Creates the device in the calling thread's network namespace: opens its queues, sets its
    /// MAC and MTU, adds its addresses and brings it up. On failure the device is gone again.
    pub fn create(spec: &TapSpec) -> Result<Tap, TapError> {
        let device = spec.name.as_str();
        check_name(device)?;
        if spec.queues == 0 {
            return Err(TapError::NoQueues {
                device: device.to_string(),
            });
        }
        let mac_is_unicast = spec.mac[0] & 1 == 0 && spec.mac != [0; 6];
        if !mac_is_unicast {
            return Err(TapError::InvalidMac {
                device: device.to_string(),
                mac: mac_text(spec.mac),
            });
        }
        for &(address, prefix) in &spec.addresses {
            if prefix > if address.is_ipv4() { 32 } else { 128 } {
                return Err(TapError::InvalidAddress {
                    device: device.to_string(),
                    address: format!("{address}/{prefix}"),
                });
            }
        }
        let os_error = |operation: String| {
            move |source: SysError| TapError::Os {
                device: device.to_string(),
                operation,
                source: source.into(),
            }
        };

        let control = netdev::control_socket().map_err(os_error("socket(AF_INET)".into()))?;
        // TUNSETIFF would attach to a persistent TAP of that name rather than fail.
        match netdev::interface_index(control.as_fd(), device) {
            Ok(_) => {
                return Err(TapError::Exists {
                    device: device.to_string(),
                })
            }
            Err(error) if error.is(libc::ENODEV) => {}
            Err(error) => return Err(os_error("ioctl SIOCGIFINDEX".into())(error)),
        }
        let mut queues = Vec::with_capacity(spec.queues);
        for queue in 0..spec.queues {
            let tun = tun::open_tun().map_err(os_error("open /dev/net/tun".into()))?;
            tun::attach_tap_queue(tun.as_fd(), device).map_err(os_error(format!(
                "ioctl TUNSETIFF (IFF_TAP|IFF_NO_PI|IFF_MULTI_QUEUE) for queue {queue}, which \
                 needs CAP_NET_ADMIN to create a device"
            )))?;
            queues.push(Some(tun));
        }
        netdev::set_hw_address(control.as_fd(), device, spec.mac).map_err(os_error(format!(
            "ioctl SIOCSIFHWADDR {}",
            mac_text(spec.mac)
        )))?;
        if let Some(mtu) = spec.mtu {
            netdev::set_mtu(control.as_fd(), device, mtu)
                .map_err(os_error(format!("ioctl SIOCSIFMTU {mtu}")))?;
        }
        if !spec.addresses.is_empty() {
            let index = netdev::interface_index(control.as_fd(), device)
                .map_err(os_error("ioctl SIOCGIFINDEX".into()))?;
            let route = rtnetlink::route_socket(NETLINK_TIMEOUT)
                .map_err(os_error("socket(AF_NETLINK, NETLINK_ROUTE)".into()))?;
            for (seq, &(address, prefix)) in (1..).zip(&spec.addresses) {
                change_address(
                    AddressChange::Add,
                    route.as_fd(),
                    device,
                    index,
                    seq,
                    address,
                    prefix,
                )?;
            }
        }
        netdev::set_up(control.as_fd(), device)
            .map_err(os_error("ioctl SIOCSIFFLAGS IFF_UP".into()))?;
        let mtu =
            netdev::mtu(control.as_fd(), device).map_err(os_error("ioctl SIOCGIFMTU".into()))?;
        Ok(Tap {
            name: device.to_string(),
            queues,
            max_frame_len: mtu as usize + FRAME_OVERHEAD,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many queues the device has (taken or not).
    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    /// Hands queue `i` over, to be moved to the data-plane thread that serves it. Its read arena
    /// holds [`MAX_READ_BURST`] frames of the device's MTU at creation.
    ///
    /// # Panics
    /// If `i` is not below [`Tap::queue_count`] or the queue was taken before.
    pub fn take_queue(&mut self, i: usize) -> TapQueue {
        let count = self.queues.len();
        let fd = self
            .queues
            .get_mut(i)
            .unwrap_or_else(|| panic!("TAP {} has {count} queues, not {}", self.name, i + 1))
            .take()
            .unwrap_or_else(|| panic!("queue {i} of TAP {} was already taken", self.name));
        TapQueue::with_fd(fd, self.max_frame_len)
    }

    /// Gives up the queues not taken yet, for another process to adopt with [`TapQueue::adopt`]
    /// (sent over SCM_RIGHTS). The device lives while any of them is open anywhere.
    pub fn export(self) -> TapExport {
        TapExport {
            name: self.name,
            mtu: (self.max_frame_len - FRAME_OVERHEAD) as u32,
            queues: self.queues.into_iter().flatten().collect(),
        }
    }
}

/// Removes the TAP device `name` (in the calling thread's network namespace) even while queues
/// of it are open elsewhere, as when the process it was handed to outlives its allocation.
/// Returns whether there was such a device.
pub fn delete_device(name: &str) -> Result<bool, TapError> {
    let os_error = |operation: &str| {
        let operation = operation.to_string();
        move |source: SysError| TapError::Os {
            device: name.to_string(),
            operation,
            source: source.into(),
        }
    };
    let control = netdev::control_socket().map_err(os_error("socket(AF_INET)"))?;
    let index = match netdev::interface_index(control.as_fd(), name) {
        Ok(index) => index,
        Err(error) if error.is(libc::ENODEV) => return Ok(false),
        Err(error) => return Err(os_error("ioctl SIOCGIFINDEX")(error)),
    };
    let route = rtnetlink::route_socket(NETLINK_TIMEOUT)
        .map_err(os_error("socket(AF_NETLINK, NETLINK_ROUTE)"))?;
    match acknowledged(route.as_fd(), 1, &netlink::delete_link_request(1, index)) {
        Ok(()) => Ok(true),
        Err((source, _)) if source.raw_os_error() == Some(libc::ENODEV) => Ok(false),
        Err((source, message)) => Err(TapError::Os {
            device: name.to_string(),
            operation: format!(
                "netlink RTM_DELLINK{}",
                message.map(|m| format!(" ({m})")).unwrap_or_default()
            ),
            source,
        }),
    }
}

/// A TAP device's queues handed to another process: what it needs besides the descriptors (the
/// device name, for messages, and the MTU, which sizes the read arenas) is plain data.
#[derive(Debug)]
pub struct TapExport {
    pub name: String,
    pub mtu: u32,
    pub queues: Vec<OwnedFd>,
}

/// What the kernel says about one of its network interfaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelInterface {
    pub mac: [u8; 6],
    pub mtu: u32,
}

impl KernelInterface {
    /// Looks `name` up in the calling thread's network namespace.
    pub fn get(name: &str) -> Result<KernelInterface, TapError> {
        let failed = |operation| {
            move |source: SysError| TapError::Interface {
                device: name.to_string(),
                operation,
                source: source.into(),
            }
        };
        let control = netdev::control_socket().map_err(failed("socket(AF_INET)"))?;
        Ok(KernelInterface {
            mac: netdev::hw_address(control.as_fd(), name)
                .map_err(failed("ioctl SIOCGIFHWADDR"))?,
            mtu: netdev::mtu(control.as_fd(), name).map_err(failed("ioctl SIOCGIFMTU"))?,
        })
    }
}

/// Addresses taken off a kernel interface for as long as this value lives: a TAP twin that is
/// given an address its interface also holds gets the packets for it only once the interface no
/// longer answers for it. Dropping it puts the addresses back on the interface (logging what
/// fails), from any thread: the namespace is the one `take` ran in. Routes the kernel removed
/// with an address (through a gateway on its subnet) are not put back.
#[derive(Debug)]
pub struct MovedAddresses {
    interface: String,
    index: u32,
    addresses: Vec<(IpAddr, u8)>,
    /// A netlink socket of the interface's namespace, kept for putting the addresses back.
    route: Option<OwnedFd>,
    /// The first netlink sequence number not used on `route` yet.
    next_seq: u32,
}

impl MovedAddresses {
    /// Removes from `interface` (in the calling thread's network namespace) those of `wanted`
    /// that it holds, and returns them, to be restored when the result is dropped.
    pub fn take(interface: &str, wanted: &[(IpAddr, u8)]) -> Result<MovedAddresses, TapError> {
        let mut moved = MovedAddresses {
            interface: interface.to_string(),
            index: 0,
            addresses: Vec::new(),
            route: None,
            next_seq: 1,
        };
        if wanted.is_empty() {
            return Ok(moved);
        }
        let os_error = |operation: &'static str| {
            move |source: SysError| TapError::Interface {
                device: interface.to_string(),
                operation,
                source: source.into(),
            }
        };
        let control = netdev::control_socket().map_err(os_error("socket(AF_INET)"))?;
        moved.index = netdev::interface_index(control.as_fd(), interface)
            .map_err(os_error("ioctl SIOCGIFINDEX"))?;
        let route = rtnetlink::route_socket(NETLINK_TIMEOUT)
            .map_err(os_error("socket(AF_NETLINK, NETLINK_ROUTE)"))?;
        let held = interface_addresses(route.as_fd(), interface, moved.index, moved.next_seq)?;
        moved.next_seq += 1;
        let route: &OwnedFd = moved.route.insert(route);
        for &(address, prefix) in wanted {
            if !held.contains(&(address, prefix)) {
                continue;
            }
            let seq = moved.next_seq;
            moved.next_seq += 1;
            change_address(
                AddressChange::Delete,
                route.as_fd(),
                interface,
                moved.index,
                seq,
                address,
                prefix,
            )?;
            // Recorded at once: an error on the next one still restores this one.
            moved.addresses.push((address, prefix));
        }
        Ok(moved)
    }

    /// The addresses taken off the interface.
    pub fn addresses(&self) -> &[(IpAddr, u8)] {
        &self.addresses
    }

    fn restore(&mut self) -> Result<(), TapError> {
        let Some(route) = &self.route else {
            return Ok(());
        };
        let mut result = Ok(());
        let first_seq = self.next_seq;
        for (seq, (address, prefix)) in (first_seq..).zip(std::mem::take(&mut self.addresses)) {
            let added = change_address(
                AddressChange::Add,
                route.as_fd(),
                &self.interface,
                self.index,
                seq,
                address,
                prefix,
            );
            if let Err(e) = added {
                result = result.and(Err(e));
            }
        }
        result
    }
}

impl Drop for MovedAddresses {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            log::warn!("restoring the addresses of {}: {e}", self.interface);
        }
    }
}

/// The addresses (global or site scope, as address and prefix) interface `index` holds.
fn interface_addresses(
    route: BorrowedFd<'_>,
    device: &str,
    index: u32,
    seq: u32,
) -> Result<Vec<(IpAddr, u8)>, TapError> {
    let failure = |source: io::Error| TapError::AddressDump {
        device: device.to_string(),
        source,
    };
    rtnetlink::send_to_kernel(route, &netlink::address_dump_request(seq))
        .map_err(|error| failure(error.into()))?;
    let mut datagram = vec![0u8; 32 * 1024];
    let mut held = Vec::new();
    loop {
        let len =
            rtnetlink::receive(route, &mut datagram).map_err(|error| failure(error.into()))?;
        match netlink::parse_address_dump(seq, &datagram[..len]) {
            netlink::DumpPart::Addresses { addresses, done } => {
                held.extend(
                    addresses
                        .iter()
                        .filter(|a| a.index == index && a.scope < libc::RT_SCOPE_LINK)
                        .map(|a| (a.address, a.prefix)),
                );
                if done {
                    return Ok(held);
                }
            }
            netlink::DumpPart::Refused { errno } => {
                return Err(failure(io::Error::from_raw_os_error(errno)))
            }
            netlink::DumpPart::Malformed => {
                let error = io::Error::new(io::ErrorKind::InvalidData, "malformed answer");
                return Err(failure(error));
            }
        }
    }
}

/// An address change over rtnetlink.
#[derive(Clone, Copy)]
enum AddressChange {
    Add,
    Delete,
}

/// Adds or removes one address over rtnetlink and waits for the kernel's acknowledgement.
fn change_address(
    change: AddressChange,
    route: BorrowedFd<'_>,
    device: &str,
    index: u32,
    seq: u32,
    address: IpAddr,
    prefix: u8,
) -> Result<(), TapError> {
    let (request, name) = match change {
        AddressChange::Add => (
            netlink::new_address_request(seq, index, address, prefix),
            "RTM_NEWADDR",
        ),
        AddressChange::Delete => (
            netlink::delete_address_request(seq, index, address, prefix),
            "RTM_DELADDR",
        ),
    };
    acknowledged(route, seq, &request).map_err(|(source, message)| TapError::Netlink {
        device: device.to_string(),
        request: name,
        address,
        prefix,
        source,
        message,
    })
}

/// Sends request `seq` and waits for the kernel's acknowledgement; on refusal, the errno and
/// the kernel's text.
fn acknowledged(
    route: BorrowedFd<'_>,
    seq: u32,
    request: &[u8],
) -> Result<(), (io::Error, Option<String>)> {
    let failure = |source: io::Error, message: Option<String>| (source, message);
    rtnetlink::send_to_kernel(route, request).map_err(|error| failure(error.into(), None))?;
    let mut datagram = [0u8; 4096];
    loop {
        let len = rtnetlink::receive(route, &mut datagram).map_err(|error| {
            if error.is(libc::EAGAIN) {
                let text = format!("no answer from the kernel within {NETLINK_TIMEOUT:?}");
                failure(io::Error::new(io::ErrorKind::TimedOut, text), None)
            } else {
                failure(error.into(), None)
            }
        })?;
        match rtnetlink::answer_to(seq, &datagram[..len]) {
            None => continue,
            Some(rtnetlink::Answer::Accepted) => return Ok(()),
            Some(rtnetlink::Answer::Refused { errno, message }) => {
                return Err(failure(io::Error::from_raw_os_error(errno), message))
            }
            Some(rtnetlink::Answer::Malformed) => {
                let error = io::Error::new(io::ErrorKind::InvalidData, "malformed answer");
                return Err(failure(error, None));
            }
        }
    }
}

/// What [`TapQueue::write_frames`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[must_use]
pub struct WriteOutcome {
    /// Frames handed to the kernel.
    pub written: usize,
    /// Frames the kernel did not take (queue full, or a frame it refused, such as one shorter
    /// than an Ethernet header).
    pub dropped: usize,
}

/// One queue of the TAP device, owned by the data-plane thread that serves the matching port
/// queue. Its descriptor is non-blocking: poll [`TapQueue::fd`] to wait for the kernel's frames.
pub struct TapQueue {
    fd: OwnedFd,
    /// One byte more than the longest frame expected: the tun driver silently cuts a frame to the
    /// buffer it is given, so a read that fills a whole slot was cut.
    slot_len: usize,
    /// `MAX_READ_BURST` slots of `slot_len` bytes that frames are read into.
    arena: Box<[u8]>,
}

impl fmt::Debug for TapQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TapQueue")
            .field("fd", &self.fd)
            .field("slot_len", &self.slot_len)
            .finish_non_exhaustive()
    }
}

impl TapQueue {
    fn with_fd(fd: OwnedFd, max_frame_len: usize) -> TapQueue {
        TapQueue {
            fd,
            slot_len: max_frame_len + 1,
            arena: vec![0; MAX_READ_BURST * (max_frame_len + 1)].into_boxed_slice(),
        }
    }

    /// Adopts a queue descriptor another process opened and attached (a privileged helper, over
    /// SCM_RIGHTS) for a device of `mtu`: checks that it is a TAP queue without packet
    /// information and makes it non-blocking. Needs no capability.
    pub fn adopt(fd: OwnedFd, mtu: u32) -> Result<TapQueue, TapError> {
        let os_error = |device: &str, operation: &str| {
            let (device, operation) = (device.to_string(), operation.to_string());
            move |source: SysError| TapError::Os {
                device,
                operation,
                source: source.into(),
            }
        };
        let device =
            tun::tap_queue_device(fd.as_fd()).map_err(os_error("(adopted)", "ioctl TUNGETIFF"))?;
        tun::set_nonblocking(fd.as_fd()).map_err(os_error(&device, "fcntl O_NONBLOCK"))?;
        Ok(TapQueue::with_fd(fd, mtu as usize + FRAME_OVERHEAD))
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Writes each frame into the kernel with one `write` per frame. Never blocks: a frame the
    /// kernel does not take at once is dropped.
    pub fn write_frames<'a>(&mut self, frames: impl Iterator<Item = &'a [u8]>) -> WriteOutcome {
        let mut outcome = WriteOutcome::default();
        for frame in frames {
            loop {
                match tun::write_frame(self.fd.as_fd(), frame) {
                    Ok(()) => outcome.written += 1,
                    Err(error) if error.is(libc::EINTR) => continue,
                    Err(_) => outcome.dropped += 1,
                }
                break;
            }
        }
        outcome
    }

    /// Reads up to `max` (at most [`MAX_READ_BURST`]) frames the kernel sent, stopping early when
    /// none is left. The frames live in this queue's arena until the next call; nothing is
    /// allocated.
    pub fn read_frames(&mut self, max: usize) -> ReadBurst<'_> {
        let slot_len = self.slot_len;
        let mut lens = [0usize; MAX_READ_BURST];
        let mut count = 0;
        let mut oversized = 0;
        let mut error = None;
        for _ in 0..max.min(MAX_READ_BURST) {
            let slot = &mut self.arena[count * slot_len..(count + 1) * slot_len];
            match tun::read_frame(self.fd.as_fd(), slot) {
                Ok(len) if len == slot_len => oversized += 1,
                Ok(0) => break,
                Ok(len) => {
                    lens[count] = len;
                    count += 1;
                }
                Err(e) if e.is(libc::EINTR) => {}
                Err(e) if e.is(libc::EAGAIN) => break,
                Err(e) => {
                    error = Some(e.into());
                    break;
                }
            }
        }
        let mut frames: [&[u8]; MAX_READ_BURST] = [&[]; MAX_READ_BURST];
        for ((frame, slot), &len) in frames
            .iter_mut()
            .zip(self.arena.chunks_exact(slot_len))
            .zip(&lens[..count])
        {
            *frame = &slot[..len];
        }
        ReadBurst {
            frames,
            len: count,
            oversized,
            error,
        }
    }
}

impl AsFd for TapQueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The frames one [`TapQueue::read_frames`] call read; derefs to `[&[u8]]`.
pub struct ReadBurst<'a> {
    frames: [&'a [u8]; MAX_READ_BURST],
    len: usize,
    oversized: usize,
    error: Option<io::Error>,
}

impl<'a> std::ops::Deref for ReadBurst<'a> {
    type Target = [&'a [u8]];

    fn deref(&self) -> &[&'a [u8]] {
        &self.frames[..self.len]
    }
}

impl fmt::Debug for ReadBurst<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadBurst")
            .field("frames", &self.len)
            .field("oversized", &self.oversized)
            .field("error", &self.error)
            .finish()
    }
}

impl ReadBurst<'_> {
    /// Frames longer than the queue's slots (the MTU was raised after the queue was taken): read,
    /// found cut short, and dropped.
    pub fn oversized(&self) -> usize {
        self.oversized
    }

    /// The error that ended the burst early, other than "nothing left to read".
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_name_is_cut_to_fifteen_bytes() {
        assert_eq!(default_tap_name("eth0"), "fl-eth0");
        assert_eq!(default_tap_name("enp59s0f1np1xyz"), "fl-enp59s0f1np1");
        assert_eq!(default_tap_name("éééééééé"), "fl-éééééé");
    }

    #[test]
    fn names_the_kernel_would_refuse_are_refused() {
        for bad in ["", "sixteen-bytes-xx", "a/b", "a b", "a:b", "fl%d", ".."] {
            let error = check_name(bad).unwrap_err().to_string();
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
        check_name("fl-eth0").unwrap();
    }

    #[test]
    fn spec_from_config_defaults_and_errors() {
        let config = TapConfig {
            addresses: vec!["10.0.0.2/24".into(), "fd00::2/64".into()],
            mtu: Some(1400),
            ..TapConfig::default()
        };
        let spec = TapSpec::from_config(&config, "eth0", [2, 0, 0, 0, 0, 1], 2).unwrap();
        assert_eq!(spec.name, "fl-eth0");
        assert_eq!(spec.mac, [2, 0, 0, 0, 0, 1]);
        assert_eq!(spec.addresses[0], ("10.0.0.2".parse().unwrap(), 24));
        assert_eq!(spec.addresses[1], ("fd00::2".parse().unwrap(), 64));
        assert_eq!((spec.mtu, spec.queues), (Some(1400), 2));

        let bad = TapConfig {
            addresses: vec!["10.0.0.300/24".into()],
            ..TapConfig::default()
        };
        let error = TapSpec::from_config(&bad, "eth0", [2, 0, 0, 0, 0, 1], 1).unwrap_err();
        assert_eq!(
            error.to_string(),
            "TAP device fl-eth0: address \"10.0.0.300/24\" is not an address/prefix"
        );
    }
}
