//! The seam between the runtime and a packet I/O backend.

use crate::batch::Batch;
use crate::counters::QueueCounters;
use crate::verdict::PortId;

/// One port queue a data-plane thread serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueRef {
    pub port: PortId,
    pub queue: u16,
}

/// Where the fast/slow split happens for a backend, and so what the runtime does about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// The backend receives only fast-path packets; the kernel keeps the rest (AF_XDP's XDP
    /// program, AF_PACKET's socket filter).
    InKernel,
    /// The backend receives every packet and the kernel none (DPDK): the runtime classifies and
    /// writes the slow ones into a TAP device, and sends what the kernel writes there.
    ViaTap,
    /// The backend receives a copy of every packet and the kernel gets the packet too (AF_PACKET
    /// without a socket filter): the runtime classifies and leaves the slow ones to the kernel.
    Shared,
}

/// The packet I/O of one data-plane thread: every port queue pinned to its core. Built on a setup
/// thread, then moved to the data-plane thread, which alone calls it from then on.
pub trait ThreadIo: Send {
    /// The port queues this thread serves, in the order `receive` and `complete` index them.
    fn queues(&self) -> &[QueueRef];

    /// Receives one burst from queue `source` into `batch` (through [`Batch::begin_fill`] and
    /// [`Batch::set_len`]) and returns how many packets arrived; counts them in `counters`.
    fn receive(&mut self, source: usize, batch: &mut Batch, counters: &QueueCounters) -> usize;

    /// Carries out the verdicts of a batch that `receive` filled from `source`: transmits, hands
    /// buffers back, and counts what it did in `counters[i]` (indexed like `queues`). Must leave
    /// no buffer of the batch behind. A `Kernel` verdict means the runtime has already copied the
    /// packet to the slow path: release the buffer without counting it.
    fn complete(&mut self, source: usize, batch: &mut Batch, counters: &[QueueCounters]);

    /// Where this backend splits the fast path from the slow path.
    fn split(&self) -> Split;

    /// Sends copies of `frames` (from the kernel's slow path) out of queue `source`'s port, as
    /// far as buffers and ring space allow, and returns how many were queued; counts them as
    /// transmitted in `counters`.
    fn transmit_copies(
        &mut self,
        source: usize,
        frames: &[&[u8]],
        counters: &QueueCounters,
    ) -> usize;

    /// Called after a round over every queue brought nothing: wait for work (or spin, as the
    /// config says), returning within about 100 ms so that a stop request is seen, and at once
    /// when one of `also_wake_on` (the slow path's TAP descriptors) becomes readable.
    fn idle(&mut self, also_wake_on: &[std::os::fd::RawFd]);
}

/// What a socket backend's `idle` waits on: its own sockets, then the descriptors the runtime
/// adds (the slow path's TAP queues). Allocated once; `wait` does not allocate once the extra
/// descriptors have been seen.
#[derive(Debug)]
pub struct PollSet {
    fds: Vec<libc::pollfd>,
    own: usize,
}

impl PollSet {
    pub fn new(own: impl IntoIterator<Item = std::os::fd::RawFd>) -> PollSet {
        let fds: Vec<libc::pollfd> = own
            .into_iter()
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let own = fds.len();
        PollSet { fds, own }
    }

    /// Waits until one of the sockets or `also_wake_on` is readable, or `timeout_ms` passes.
    /// An interrupted wait (EINTR) is not an error.
    pub fn wait(
        &mut self,
        also_wake_on: &[std::os::fd::RawFd],
        timeout_ms: i32,
    ) -> std::io::Result<()> {
        self.fds.truncate(self.own);
        self.fds.extend(also_wake_on.iter().map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        }));
        for p in &mut self.fds {
            p.revents = 0;
        }
        fastlane_sys::poll::poll(&mut self.fds, timeout_ms)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_poll_set_wakes_on_an_extra_descriptor_and_times_out_otherwise() {
        let (mut tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
        let (_idle, quiet) = std::os::unix::net::UnixStream::pair().unwrap();
        let mut set = PollSet::new([quiet.as_raw_fd()]);
        let started = std::time::Instant::now();
        set.wait(&[rx.as_raw_fd()], 50).unwrap();
        assert!(
            started.elapsed() >= std::time::Duration::from_millis(40),
            "nothing was readable"
        );
        tx.write_all(b"x").unwrap();
        let started = std::time::Instant::now();
        set.wait(&[rx.as_raw_fd()], 5000).unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "woke on the extra fd"
        );
    }
}
