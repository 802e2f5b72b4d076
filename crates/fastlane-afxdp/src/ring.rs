//! The four single-producer/single-consumer rings an AF_XDP socket shares with the kernel.
//!
//! Each side keeps a private copy of the other side's index and reads the shared one (Acquire)
//! only when the copy says there is no room or nothing to read; it publishes its own index
//! (Release) once per batch. Descriptor slots are addressed with `index & mask`, so no access can
//! leave the ring.

use std::sync::atomic::{AtomicU32, Ordering};

use std::os::fd::OwnedFd;

use fastlane_sys::xsk::{self, MmapOffsets, RingOffsets};
use fastlane_sys::{Mmap, SysResult};

/// The mapping of one ring and where its parts lie within it.
#[derive(Debug)]
struct RingMap {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    descs: *mut u8,
    mask: u32,
    _map: Mmap,
}

impl RingMap {
    /// Maps a ring of `size` entries of `entry` bytes, laid out as `off` says.
    fn new(
        fd: &OwnedFd,
        pgoff: u64,
        off: &RingOffsets,
        size: u32,
        entry: usize,
    ) -> SysResult<RingMap> {
        let len = off.desc as usize + size as usize * entry;
        let map = Mmap::shared(fd, len, pgoff, true)?;
        let base = map.as_ptr();
        // SAFETY: the kernel's offsets all lie within the mapping it sized for this ring.
        unsafe {
            Ok(RingMap {
                producer: base.add(off.producer as usize).cast(),
                consumer: base.add(off.consumer as usize).cast(),
                flags: base.add(off.flags as usize).cast(),
                descs: base.add(off.desc as usize),
                mask: size - 1,
                _map: map,
            })
        }
    }

    fn load(index: *const AtomicU32, order: Ordering) -> u32 {
        // SAFETY: `index` points into the live mapping, at a 4-byte aligned u32 the kernel also
        // accesses atomically.
        unsafe { (*index).load(order) }
    }
    fn store(index: *const AtomicU32, value: u32) {
        // SAFETY: as in `load`.
        unsafe { (*index).store(value, Ordering::Release) }
    }
    fn needs_wakeup(&self) -> bool {
        Self::load(self.flags, Ordering::Relaxed) & xsk::XDP_RING_NEED_WAKEUP != 0
    }
}

/// The side of a ring this process writes: fill and TX.
#[derive(Debug)]
pub struct Producer<T> {
    ring: RingMap,
    cached_prod: u32,
    /// The consumer index plus the number of entries this side may have outstanding.
    cached_limit: u32,
    /// How many entries this side keeps outstanding at most (at most the ring size).
    capacity: u32,
    _entry: std::marker::PhantomData<T>,
}

/// The side of a ring the kernel writes: RX and completion.
#[derive(Debug)]
pub struct Consumer<T> {
    ring: RingMap,
    cached_cons: u32,
    cached_prod: u32,
    _entry: std::marker::PhantomData<T>,
}

/// Which ring to map, with its page offset and layout.
#[derive(Debug, Clone, Copy)]
pub enum Which {
    Rx,
    Tx,
    Fill,
    Completion,
}

impl Which {
    fn place(self, offsets: &MmapOffsets) -> (u64, RingOffsets) {
        match self {
            Which::Rx => (xsk::XDP_PGOFF_RX_RING as u64, offsets.rx),
            Which::Tx => (xsk::XDP_PGOFF_TX_RING as u64, offsets.tx),
            Which::Fill => (xsk::XDP_UMEM_PGOFF_FILL_RING, offsets.fill),
            Which::Completion => (xsk::XDP_UMEM_PGOFF_COMPLETION_RING, offsets.completion),
        }
    }
}

impl<T: Copy> Producer<T> {
    /// Maps a producer ring of `size` entries that keeps at most `capacity` of them outstanding.
    pub fn map(
        fd: &OwnedFd,
        which: Which,
        offsets: &MmapOffsets,
        size: u32,
        capacity: u32,
    ) -> SysResult<Self> {
        let (pgoff, off) = which.place(offsets);
        let ring = RingMap::new(fd, pgoff, &off, size, std::mem::size_of::<T>())?;
        let cached_prod = RingMap::load(ring.producer, Ordering::Relaxed);
        let capacity = capacity.min(size);
        let cached_limit = RingMap::load(ring.consumer, Ordering::Acquire).wrapping_add(capacity);
        Ok(Producer {
            ring,
            cached_prod,
            cached_limit,
            capacity,
            _entry: std::marker::PhantomData,
        })
    }

    /// How many entries can be written now, at most `wanted`; reads the consumer index only when
    /// the cached one does not allow `wanted`.
    #[inline]
    pub fn free(&mut self, wanted: u32) -> u32 {
        let free = self.cached_limit.wrapping_sub(self.cached_prod);
        if free >= wanted {
            return wanted;
        }
        self.cached_limit =
            RingMap::load(self.ring.consumer, Ordering::Acquire).wrapping_add(self.capacity);
        self.cached_limit.wrapping_sub(self.cached_prod).min(wanted)
    }

    /// Writes the entry `i` places after the last published one. The caller has made sure, with
    /// `free`, that there is room for it.
    #[inline]
    pub fn write(&mut self, i: u32, entry: T) {
        let slot = self.cached_prod.wrapping_add(i) & self.ring.mask;
        // SAFETY: `slot <= mask`, so the write stays within the ring's descriptor array; the
        // entry is not visible to the kernel until `publish` moves the producer index past it.
        unsafe { self.ring.descs.cast::<T>().add(slot as usize).write(entry) }
    }

    /// Makes the next `n` written entries visible to the kernel.
    #[inline]
    pub fn publish(&mut self, n: u32) {
        self.cached_prod = self.cached_prod.wrapping_add(n);
        RingMap::store(self.ring.producer, self.cached_prod);
    }

    /// Entries published since the ring was created (a running, wrapping count).
    pub fn published(&self) -> u32 {
        self.cached_prod
    }

    /// Entries the kernel has not consumed yet (reads its index).
    pub fn outstanding(&self) -> u32 {
        self.cached_prod
            .wrapping_sub(RingMap::load(self.ring.consumer, Ordering::Acquire))
    }

    pub fn needs_wakeup(&self) -> bool {
        self.ring.needs_wakeup()
    }
}

impl<T: Copy> Consumer<T> {
    pub fn map(fd: &OwnedFd, which: Which, offsets: &MmapOffsets, size: u32) -> SysResult<Self> {
        let (pgoff, off) = which.place(offsets);
        let ring = RingMap::new(fd, pgoff, &off, size, std::mem::size_of::<T>())?;
        let cached_cons = RingMap::load(ring.consumer, Ordering::Relaxed);
        let cached_prod = RingMap::load(ring.producer, Ordering::Acquire);
        Ok(Consumer {
            ring,
            cached_cons,
            cached_prod,
            _entry: std::marker::PhantomData,
        })
    }

    /// How many entries can be read now, at most `wanted`; reads the producer index only when
    /// the cached one does not offer `wanted`.
    #[inline]
    pub fn available(&mut self, wanted: u32) -> u32 {
        let ready = self.cached_prod.wrapping_sub(self.cached_cons);
        if ready >= wanted {
            return wanted;
        }
        self.cached_prod = RingMap::load(self.ring.producer, Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons).min(wanted)
    }

    /// Reads the entry `i` places after the last released one; `i` is below what `available`
    /// returned.
    #[inline]
    pub fn read(&self, i: u32) -> T {
        let slot = self.cached_cons.wrapping_add(i) & self.ring.mask;
        // SAFETY: `slot <= mask`, within the descriptor array; the kernel published this entry
        // (Acquire load of its producer index) and does not touch it until `release`.
        unsafe { self.ring.descs.cast::<T>().add(slot as usize).read() }
    }

    /// Entries released since the ring was created (a running, wrapping count).
    pub fn consumed(&self) -> u32 {
        self.cached_cons
    }

    /// Hands the next `n` read entries back to the kernel.
    #[inline]
    pub fn release(&mut self, n: u32) {
        self.cached_cons = self.cached_cons.wrapping_add(n);
        RingMap::store(self.ring.consumer, self.cached_cons);
    }
}
