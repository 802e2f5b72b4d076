//! One queue socket: an AF_PACKET socket with a TPACKET_V3 RX ring, its socket filter, bound to
//! the port's interface and in the port's fanout group; created here, or made by another process
//! and adopted (mapping the ring needs no capability).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

use fastlane_core::config::{AfPacketConfig, FanoutMode};
use fastlane_core::QueueSpec;
use fastlane_sys::{tpacket, Mmap, SysError};

use crate::error::AfPacketError;
use crate::port::AfPacketPort;
use crate::ring::RxRing;
use crate::stats::PacketStatsReader;

/// Headroom a frame has in the ring without any PACKET_RESERVE: the TPACKET_V3 header and the
/// alignment in front of the frame, on an Ethernet device.
const RING_HEADROOM: u32 = 82;

/// PACKET_RESERVE for `headroom` bytes in front of each received frame.
pub(crate) fn rx_reserve(cfg: &AfPacketConfig) -> u32 {
    cfg.headroom.saturating_sub(RING_HEADROOM)
}

#[derive(Debug)]
pub(crate) struct QueueSocket {
    pub rx: RxRing,
    pub raw_fd: RawFd,
    pub stats: PacketStatsReader,
    /// Declared after the ring, which points into it.
    _ring: Mmap,
    /// Declared last: the mapping goes before the socket.
    _fd: Arc<OwnedFd>,
}

fn fanout_mode(mode: FanoutMode) -> u32 {
    match mode {
        FanoutMode::Hash => tpacket::PACKET_FANOUT_HASH,
        FanoutMode::Cpu => tpacket::PACKET_FANOUT_CPU,
        FanoutMode::LoadBalance => tpacket::PACKET_FANOUT_LB,
        FanoutMode::QueueMapping => tpacket::PACKET_FANOUT_QM,
    }
}

fn failed(q: &QueueSpec) -> impl Fn(SysError) -> AfPacketError + '_ {
    move |source| AfPacketError::Socket {
        interface: q.interface.clone(),
        queue: q.queue,
        operation: source.call,
        source: source.into(),
    }
}

/// A queue socket of `port` set up to the last option, bound and in the fanout group, with its
/// ring requested but not mapped: what a privileged process hands to another one.
pub(crate) fn create(
    cfg: &AfPacketConfig,
    port: &AfPacketPort,
    q: &QueueSpec,
) -> Result<OwnedFd, AfPacketError> {
    let failed = failed(q);
    let fd = tpacket::packet_socket().map_err(&failed)?;
    let sock = fd.as_fd();
    tpacket::set_version_v3(sock).map_err(&failed)?;
    tpacket::set_reserve(sock, rx_reserve(cfg)).map_err(&failed)?;
    let frames_per_block = cfg.block_size / cfg.frame_size;
    let rx = tpacket::tpacket_req3 {
        tp_block_size: cfg.block_size,
        tp_block_nr: cfg.block_count,
        tp_frame_size: cfg.frame_size,
        tp_frame_nr: frames_per_block * cfg.block_count,
        tp_retire_blk_tov: cfg.block_timeout_ms,
        tp_sizeof_priv: 0,
        tp_feature_req_word: 0,
    };
    tpacket::set_rx_ring(sock, &rx).map_err(&failed)?;
    if let Some(filter) = port.socket_filter() {
        let program = filter.fd().map_err(|source| AfPacketError::Program {
            interface: q.interface.clone(),
            source,
        })?;
        tpacket::attach_filter(sock, program.as_fd()).map_err(&failed)?;
    }
    tpacket::set_ignore_outgoing(sock).map_err(&failed)?;
    tpacket::bind_all_protocols(sock, port.ifindex()).map_err(&failed)?;
    if !port.single_queue {
        join_fanout(cfg, port, sock).map_err(&failed)?;
    }
    Ok(fd)
}

/// Maps the RX ring of `fd`, a socket [`create`] set up with `cfg`'s ring geometry (here or in
/// another process).
pub(crate) fn map(
    cfg: &AfPacketConfig,
    q: &QueueSpec,
    fd: OwnedFd,
) -> Result<QueueSocket, AfPacketError> {
    let failed = failed(q);
    if !tpacket::version(fd.as_fd()).map_err(&failed)? {
        return Err(AfPacketError::Config(format!(
            "queue {} of {}: the socket is not a TPACKET_V3 socket",
            q.queue, q.interface
        )));
    }
    let rx_len = cfg.block_size as usize * cfg.block_count as usize;
    let ring = Mmap::shared(&fd, rx_len, 0, true).map_err(|e| {
        failed(SysError {
            call: "mmap of the RX ring",
            ..e
        })
    })?;
    // SAFETY: the mapping is the RX ring of these sizes, and lives as long as the ring object
    // (same QueueSocket, declared after it).
    let rx = unsafe { RxRing::new(ring.as_ptr(), cfg.block_size as usize, cfg.block_count) };
    let raw_fd = fd.as_raw_fd();
    let fd = Arc::new(fd);
    Ok(QueueSocket {
        rx,
        raw_fd,
        stats: PacketStatsReader::new(fd.clone()),
        _ring: ring,
        _fd: fd,
    })
}

/// Joins the port's fanout group, creating it with a kernel-chosen unique id on first use. The
/// group, not the socket, decides whether outgoing frames are seen, hence its own flag.
fn join_fanout(
    cfg: &AfPacketConfig,
    port: &AfPacketPort,
    sock: BorrowedFd<'_>,
) -> Result<(), SysError> {
    let mode = fanout_mode(cfg.fanout) | tpacket::PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
    let mut group = port.fanout_group.lock().unwrap_or_else(|e| e.into_inner());
    match *group {
        Some(id) => tpacket::set_fanout(sock, id as u32 | mode << 16),
        None => {
            tpacket::set_fanout(sock, (mode | tpacket::PACKET_FANOUT_FLAG_UNIQUEID) << 16)?;
            *group = Some(tpacket::fanout(sock)? as u16);
            Ok(())
        }
    }
}
