//! A packet is a view into a buffer owned by the backend (a UMEM frame, an mbuf): no copy is made
//! between the wire and a processor, and a processor may grow or shrink the packet in place within
//! the buffer's headroom and tailroom.

use crate::verdict::Verdict;

/// Why an edit of a packet's extent was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    #[error("prepend of {wanted} bytes exceeds the headroom of {available} bytes")]
    NoHeadroom { wanted: usize, available: usize },
    #[error("append of {wanted} bytes exceeds the tailroom of {available} bytes")]
    NoTailroom { wanted: usize, available: usize },
    #[error("cannot remove {wanted} bytes from a packet of {len} bytes")]
    TooShort { wanted: usize, len: usize },
}

/// One packet's place in a batch: where its buffer is, which part of it holds the packet, and
/// what becomes of it. Backends fill slots; processors see them through [`Packet`].
/// `repr(C)`: plugins receive slots across a C ABI (`fastlane-plugin`), so the layout is fixed.
#[derive(Debug)]
#[repr(C)]
pub struct Slot {
    buf: *mut u8,
    buf_len: u32,
    offset: u32,
    len: u32,
    verdict: Verdict,
    /// The backend's own name for the buffer (a UMEM address, an mbuf pointer).
    handle: u64,
}

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
        verdict: Verdict::Pending,
        handle: 0,
    };

    /// Describes a received packet occupying `buf[offset..offset + len]`.
    ///
    /// # Safety
    /// `buf` must be valid for reads and writes of `buf_len` bytes, not aliased by anything else,
    /// until the backend takes the slot back; `offset + len <= buf_len`.
    pub unsafe fn set(&mut self, buf: *mut u8, buf_len: u32, offset: u32, len: u32, handle: u64) {
        debug_assert!(offset as u64 + len as u64 <= buf_len as u64);
        self.buf = buf;
        self.buf_len = buf_len;
        self.offset = offset;
        self.len = len;
        self.verdict = Verdict::Pending;
        self.handle = handle;
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
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }
    pub fn set_verdict(&mut self, verdict: Verdict) {
        self.verdict = verdict;
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
    /// A view of `slot` (for batch views other than [`Batch`](crate::Batch), such as a plugin's).
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

    pub fn verdict(&self) -> Verdict {
        self.slot.verdict
    }
    pub fn set_verdict(&mut self, verdict: Verdict) {
        self.slot.verdict = verdict;
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
}
