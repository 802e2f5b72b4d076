//! A packet is a view into a buffer owned by the backend (a UMEM frame, an mbuf): no copy is made
//! between the wire and a processor, and a processor may grow or shrink the packet in place within
//! the buffer's headroom and tailroom.

use core::fmt;
use core::mem::{align_of, offset_of, size_of};

use crate::verdict::{PluginReason, RawVerdict, Verdict};

/// Why an edit of a packet's extent was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketError {
    NoHeadroom { wanted: usize, available: usize },
    NoTailroom { wanted: usize, available: usize },
    TooShort { wanted: usize, len: usize },
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PacketError::NoHeadroom { wanted, available } => write!(
                f,
                "prepend of {wanted} bytes exceeds the headroom of {available} bytes"
            ),
            PacketError::NoTailroom { wanted, available } => write!(
                f,
                "append of {wanted} bytes exceeds the tailroom of {available} bytes"
            ),
            PacketError::TooShort { wanted, len } => {
                write!(
                    f,
                    "cannot remove {wanted} bytes from a packet of {len} bytes"
                )
            }
        }
    }
}

impl std::error::Error for PacketError {}

/// One packet's place in a batch: where its buffer is, which part of it holds the packet, what
/// becomes of it, and a metadata word for the stages. Backends fill slots; processors see them
/// through [`Packet`]; plugins receive arrays of them across the C ABI.
#[derive(Debug)]
#[repr(C)]
pub struct Slot {
    buf: *mut u8,
    buf_len: u32,
    offset: u32,
    len: u32,
    verdict: RawVerdict,
    /// The backend's own name for the buffer (a UMEM address, an mbuf pointer).
    handle: u64,
    /// Free for the pipeline's stages: 0 on receive; what one stage writes the next one reads.
    meta: u64,
}

// The layout plugins are built against. A change here is a new ABI version.
const _: () = {
    assert!(size_of::<Slot>() == 40);
    assert!(align_of::<Slot>() == 8);
    assert!(offset_of!(Slot, buf) == 0);
    assert!(offset_of!(Slot, buf_len) == 8);
    assert!(offset_of!(Slot, offset) == 12);
    assert!(offset_of!(Slot, len) == 16);
    assert!(offset_of!(Slot, verdict) == 20);
    assert!(offset_of!(Slot, handle) == 24);
    assert!(offset_of!(Slot, meta) == 32);
};

// SAFETY: a slot is only a description of a buffer that the thread holding the batch owns
// exclusively until it hands the buffer back to the backend; moving it between threads moves
// that ownership with it.
unsafe impl Send for Slot {}

impl Slot {
    pub const EMPTY: Slot = Slot {
        buf: std::ptr::null_mut(),
        buf_len: 0,
        offset: 0,
        len: 0,
        verdict: RawVerdict::PENDING,
        handle: 0,
        meta: 0,
    };

    /// Describes a received packet occupying `buf[offset..offset + len]`, pending, with
    /// metadata 0.
    ///
    /// # Safety
    /// `buf` must be valid for reads and writes of `buf_len` bytes, not aliased by anything else,
    /// until the backend takes the slot back; `offset + len <= buf_len`.
    #[inline(always)]
    pub unsafe fn set(&mut self, buf: *mut u8, buf_len: u32, offset: u32, len: u32, handle: u64) {
        debug_assert!(offset as u64 + len as u64 <= buf_len as u64);
        self.buf = buf;
        self.buf_len = buf_len;
        self.offset = offset;
        self.len = len;
        self.verdict = RawVerdict::PENDING;
        self.handle = handle;
        self.meta = 0;
    }

    pub fn handle(&self) -> u64 {
        self.handle
    }
    /// Offset of the packet's first byte within its buffer.
    pub fn offset(&self) -> u32 {
        self.offset
    }
    pub fn len(&self) -> u32 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    #[inline(always)]
    pub fn verdict(&self) -> Verdict {
        self.verdict.verdict()
    }
    #[inline(always)]
    pub fn set_verdict(&mut self, verdict: Verdict) {
        self.verdict = verdict.to_raw();
    }
    /// The verdict as encoded, with a plugin's own reason still in it.
    #[inline(always)]
    pub fn raw_verdict(&self) -> RawVerdict {
        self.verdict
    }
    #[inline(always)]
    pub fn set_raw_verdict(&mut self, verdict: RawVerdict) {
        self.verdict = verdict;
    }
    /// The metadata word the stages pass along.
    pub fn meta(&self) -> u64 {
        self.meta
    }
    pub fn set_meta(&mut self, meta: u64) {
        self.meta = meta;
    }
    /// The packet's bytes.
    pub fn data(&self) -> &[u8] {
        if self.buf.is_null() {
            return &[];
        }
        // SAFETY: `set` guarantees the buffer is valid and exclusively ours, and every edit keeps
        // offset + len within buf_len.
        unsafe { std::slice::from_raw_parts(self.buf.add(self.offset as usize), self.len as usize) }
    }
    pub fn data_mut(&mut self) -> &mut [u8] {
        if self.buf.is_null() {
            return &mut [];
        }
        // SAFETY: as in `data`, and `&mut self` makes this the only live view.
        unsafe {
            std::slice::from_raw_parts_mut(self.buf.add(self.offset as usize), self.len as usize)
        }
    }
}

/// A packet in a batch, as a processor sees it.
#[derive(Debug)]
pub struct Packet<'a> {
    slot: &'a mut Slot,
}

impl<'a> Packet<'a> {
    /// A view of `slot`, for a batch type over slots (core's, a plugin's).
    pub fn new(slot: &'a mut Slot) -> Self {
        Packet { slot }
    }

    pub fn data(&self) -> &[u8] {
        self.slot.data()
    }
    pub fn data_mut(&mut self) -> &mut [u8] {
        self.slot.data_mut()
    }
    pub fn len(&self) -> usize {
        self.slot.len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.slot.len == 0
    }
    /// Bytes free in front of the packet.
    pub fn headroom(&self) -> usize {
        self.slot.offset as usize
    }
    /// Bytes free behind the packet.
    pub fn tailroom(&self) -> usize {
        (self.slot.buf_len - self.slot.offset - self.slot.len) as usize
    }

    /// Grows the packet at the front by `n` bytes (for a new header) and returns them.
    pub fn prepend(&mut self, n: usize) -> Result<&mut [u8], PacketError> {
        if n > self.headroom() {
            return Err(PacketError::NoHeadroom {
                wanted: n,
                available: self.headroom(),
            });
        }
        self.slot.offset -= n as u32;
        self.slot.len += n as u32;
        Ok(&mut self.slot.data_mut()[..n])
    }
    /// Grows the packet at the back by `n` bytes and returns them.
    pub fn append(&mut self, n: usize) -> Result<&mut [u8], PacketError> {
        if n > self.tailroom() {
            return Err(PacketError::NoTailroom {
                wanted: n,
                available: self.tailroom(),
            });
        }
        let old = self.len();
        self.slot.len += n as u32;
        Ok(&mut self.slot.data_mut()[old..])
    }
    /// Removes `n` bytes from the front (to strip a header).
    pub fn pull(&mut self, n: usize) -> Result<(), PacketError> {
        if n > self.len() {
            return Err(PacketError::TooShort {
                wanted: n,
                len: self.len(),
            });
        }
        self.slot.offset += n as u32;
        self.slot.len -= n as u32;
        Ok(())
    }
    /// Removes `n` bytes from the back.
    pub fn trim(&mut self, n: usize) -> Result<(), PacketError> {
        if n > self.len() {
            return Err(PacketError::TooShort {
                wanted: n,
                len: self.len(),
            });
        }
        self.slot.len -= n as u32;
        Ok(())
    }

    #[inline(always)]
    pub fn verdict(&self) -> Verdict {
        self.slot.verdict()
    }
    #[inline(always)]
    pub fn set_verdict(&mut self, verdict: Verdict) {
        self.slot.set_verdict(verdict);
    }
    /// For plugins: drops the packet for one of the plugin's own reasons (an index into its
    /// `DROP_REASONS`), which the host counts under that name. A built-in processor has no reason
    /// names; it drops with [`Packet::set_verdict`].
    #[inline(always)]
    pub fn drop_for(&mut self, reason: PluginReason) {
        self.slot.verdict = RawVerdict::plugin_drop(reason);
    }

    /// The metadata word: 0 on receive, then whatever the stages before this one left in it.
    pub fn meta(&self) -> u64 {
        self.slot.meta
    }
    /// Leaves `meta` for the stages after this one.
    pub fn set_meta(&mut self, meta: u64) {
        self.slot.meta = meta;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot_over(buf: &mut [u8], offset: u32, len: u32) -> Slot {
        let mut slot = Slot::EMPTY;
        // SAFETY: `buf` outlives the slot in every test and nothing else touches it.
        unsafe { slot.set(buf.as_mut_ptr(), buf.len() as u32, offset, len, 7) };
        slot
    }

    #[test]
    fn prepend_append_pull_trim_stay_within_the_buffer() {
        let mut buf = [0u8; 64];
        let mut slot = slot_over(&mut buf, 16, 20);
        let mut p = Packet::new(&mut slot);
        assert_eq!((p.headroom(), p.len(), p.tailroom()), (16, 20, 28));
        p.prepend(4).unwrap().copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!((p.headroom(), p.len()), (12, 24));
        assert_eq!(&p.data()[..4], &[1, 2, 3, 4]);
        assert_eq!(
            p.prepend(13),
            Err(PacketError::NoHeadroom {
                wanted: 13,
                available: 12
            })
        );
        p.append(28).unwrap().fill(9);
        assert_eq!(p.tailroom(), 0);
        assert!(matches!(p.append(1), Err(PacketError::NoTailroom { .. })));
        p.pull(4).unwrap();
        p.trim(28).unwrap();
        assert_eq!((p.headroom(), p.len(), p.tailroom()), (16, 20, 28));
        assert!(matches!(p.pull(21), Err(PacketError::TooShort { .. })));
        assert!(matches!(p.trim(21), Err(PacketError::TooShort { .. })));
        assert_eq!(slot.handle(), 7);
    }

    #[test]
    fn set_starts_every_packet_pending_with_metadata_zero() {
        let mut buf = [0u8; 8];
        let mut slot = slot_over(&mut buf, 0, 8);
        slot.set_meta(0xfeed);
        slot.set_verdict(Verdict::Transmit);
        let mut reused = [0u8; 8];
        // SAFETY: `reused` outlives the slot and nothing else touches it.
        unsafe { slot.set(reused.as_mut_ptr(), 8, 0, 8, 9) };
        assert_eq!((slot.meta(), slot.verdict()), (0, Verdict::Pending));
    }

    #[test]
    fn packet_errors_say_what_was_asked_and_what_there_was() {
        let e = PacketError::NoHeadroom {
            wanted: 13,
            available: 12,
        };
        assert_eq!(
            e.to_string(),
            "prepend of 13 bytes exceeds the headroom of 12 bytes"
        );
        let e = PacketError::TooShort { wanted: 9, len: 2 };
        assert_eq!(
            e.to_string(),
            "cannot remove 9 bytes from a packet of 2 bytes"
        );
    }
}
