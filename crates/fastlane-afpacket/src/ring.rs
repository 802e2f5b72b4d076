//! The TPACKET_V3 RX ring of one socket, as mapped into this process: blocks of frames that the
//! kernel fills and hands over whole.
//!
//! Ownership passes through one status word per block: the side that owns the block writes the
//! word last, with release ordering, and the other reads it first, with acquire ordering.

use std::mem::offset_of;
use std::sync::atomic::{AtomicU32, Ordering};

use fastlane_sys::tpacket as sys;

// Offsets in `struct tpacket_block_desc` (version, offset_to_priv, then `tpacket_hdr_v1`).
const BLOCK_STATUS: usize = 8;
const BLOCK_NUM_PKTS: usize = 12;
const BLOCK_FIRST_PKT: usize = 16;

// Offsets in `struct tpacket3_hdr`.
const PKT_NEXT_OFFSET: usize = offset_of!(sys::tpacket3_hdr, tp_next_offset);
const PKT_SNAPLEN: usize = offset_of!(sys::tpacket3_hdr, tp_snaplen);
const PKT_LEN: usize = offset_of!(sys::tpacket3_hdr, tp_len);
const PKT_STATUS: usize = offset_of!(sys::tpacket3_hdr, tp_status);
const PKT_MAC: usize = offset_of!(sys::tpacket3_hdr, tp_mac);
const PKT_VLAN_TCI: usize = offset_of!(sys::tpacket3_hdr, hv1.tp_vlan_tci);
const PKT_VLAN_TPID: usize = offset_of!(sys::tpacket3_hdr, hv1.tp_vlan_tpid);
const PKT_HDR_LEN: usize = std::mem::size_of::<sys::tpacket3_hdr>();

/// # Safety
/// `p` must be 4-byte aligned and valid for the lifetime of the mapping it is in.
unsafe fn status_word<'a>(p: *mut u8) -> &'a AtomicU32 {
    // SAFETY: the caller vouches for alignment and validity; the kernel writes the word only
    // with atomic stores of its own.
    unsafe { AtomicU32::from_ptr(p.cast()) }
}

/// # Safety
/// `p` must be valid for a 4-byte read.
unsafe fn read_u32(p: *const u8) -> u32 {
    // SAFETY: the caller vouches for validity; the fields are 4-byte aligned, but nothing needs it.
    unsafe { p.cast::<u32>().read_unaligned() }
}

/// Bytes of a VLAN tag (TPID and TCI).
const VLAN_HLEN: u32 = 4;
/// Bytes of the two MAC addresses, which the tag follows.
const MACS_LEN: usize = 12;
const ETHERTYPE_VLAN: u16 = 0x8100;

/// A received frame: the packet is `buf[offset..offset + len]`, and the bytes in front of it
/// (its TPACKET_V3 header and the reserve) are headroom the packet may grow into.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RxFrame {
    pub buf: *mut u8,
    pub buf_len: u32,
    pub offset: u32,
    pub len: u32,
    /// The frame on the wire was longer than what the ring holds (`tp_len > tp_snaplen`).
    pub truncated: bool,
}

impl RxFrame {
    /// Puts back the VLAN tag the kernel moved into the packet's header, so that the frame reads
    /// as it was on the wire (and goes back out tagged). Uses 4 bytes of headroom.
    fn restore_vlan_tag(&mut self, tpid: u16, tci: u16) {
        if self.offset < VLAN_HLEN || (self.len as usize) < MACS_LEN {
            return;
        }
        // SAFETY: the frame and the 4 bytes in front of it lie in `buf[..buf_len]` (checked by
        // `next` and just above), which is ours; `copy` allows the overlap.
        unsafe {
            let start = self.buf.add((self.offset - VLAN_HLEN) as usize);
            std::ptr::copy(start.add(VLAN_HLEN as usize), start, MACS_LEN);
            let tag = start.add(MACS_LEN);
            tag.copy_from_nonoverlapping(tpid.to_be_bytes().as_ptr(), 2);
            tag.add(2)
                .copy_from_nonoverlapping(tci.to_be_bytes().as_ptr(), 2);
        }
        self.offset -= VLAN_HLEN;
        self.len += VLAN_HLEN;
    }
}

#[derive(Debug)]
pub(crate) struct RxRing {
    base: *mut u8,
    block_size: usize,
    block_count: u32,
    /// The block being walked, or to be walked next.
    block: u32,
    /// Whether `block` is user space's and being walked.
    walking: bool,
    /// Packets of `block` not yet handed out.
    remaining: u32,
    /// Offset in `block` of the next packet's header.
    offset: usize,
    /// Blocks whose every packet was handed out, not yet given back to the kernel: the ones
    /// just before `block`.
    held: u32,
}

impl RxRing {
    /// # Safety
    /// `base` must be the start of a mapped TPACKET_V3 RX ring of `block_count` blocks of
    /// `block_size` bytes that outlives the returned object.
    pub unsafe fn new(base: *mut u8, block_size: usize, block_count: u32) -> RxRing {
        RxRing {
            base,
            block_size,
            block_count,
            block: 0,
            walking: false,
            remaining: 0,
            offset: 0,
            held: 0,
        }
    }

    fn block_ptr(&self, block: u32) -> *mut u8 {
        // SAFETY: `block < block_count`, so the result is inside the ring (`new`'s contract).
        unsafe { self.base.add(block as usize * self.block_size) }
    }

    fn block_status(&self, block: u32) -> &AtomicU32 {
        // SAFETY: every block starts page-aligned with its descriptor; the ring outlives self.
        unsafe { status_word(self.block_ptr(block).add(BLOCK_STATUS)) }
    }

    fn finish_block(&mut self) {
        self.walking = false;
        self.held += 1;
        self.block = (self.block + 1) % self.block_count;
    }

    /// The next received frame, if the kernel has handed over one not yet returned. The frame's
    /// memory stays valid and ours until [`RxRing::release_held`] after its block was finished.
    pub fn next(&mut self) -> Option<RxFrame> {
        loop {
            if !self.walking {
                // Every block is held: the next one is the oldest of them, already walked.
                if self.held == self.block_count {
                    return None;
                }
                let status = self.block_status(self.block).load(Ordering::Acquire);
                if status & sys::TP_STATUS_USER == 0 {
                    return None;
                }
                let block = self.block_ptr(self.block);
                // SAFETY: the block is ours (status read with acquire), and its descriptor is
                // inside it.
                let (num_pkts, first) = unsafe {
                    (
                        read_u32(block.add(BLOCK_NUM_PKTS)),
                        read_u32(block.add(BLOCK_FIRST_PKT)),
                    )
                };
                self.walking = true;
                self.remaining = num_pkts;
                self.offset = first as usize;
            }
            if self.remaining == 0 || self.offset + PKT_HDR_LEN > self.block_size {
                self.finish_block();
                continue;
            }
            // SAFETY: the header lies inside the block (checked just above), which is ours.
            let (next, snaplen, len, status, mac, tci, tpid) = unsafe {
                let pkt = self.block_ptr(self.block).add(self.offset);
                (
                    read_u32(pkt.add(PKT_NEXT_OFFSET)),
                    read_u32(pkt.add(PKT_SNAPLEN)),
                    read_u32(pkt.add(PKT_LEN)),
                    read_u32(pkt.add(PKT_STATUS)),
                    pkt.add(PKT_MAC).cast::<u16>().read_unaligned() as u32,
                    read_u32(pkt.add(PKT_VLAN_TCI)) as u16,
                    pkt.add(PKT_VLAN_TPID).cast::<u16>().read_unaligned(),
                )
            };
            let buf_len = mac as usize + snaplen as usize;
            if self.offset + buf_len > self.block_size {
                // The kernel never writes such a header; give up on the block rather than
                // trust it.
                log::warn!("TPACKET_V3 packet header runs past its block; skipping the block");
                self.finish_block();
                continue;
            }
            // SAFETY: checked just above to lie inside the block.
            let buf = unsafe { self.block_ptr(self.block).add(self.offset) };
            let mut frame = RxFrame {
                buf,
                buf_len: buf_len as u32,
                offset: mac,
                len: snaplen,
                truncated: len > snaplen,
            };
            if status & sys::TP_STATUS_VLAN_VALID != 0 {
                let tpid = if status & sys::TP_STATUS_VLAN_TPID_VALID != 0 {
                    tpid
                } else {
                    ETHERTYPE_VLAN
                };
                frame.restore_vlan_tag(tpid, tci);
            }
            self.remaining -= 1;
            if self.remaining == 0 || next == 0 {
                self.finish_block();
            } else {
                self.offset += next as usize;
            }
            return Some(frame);
        }
    }

    /// Gives every finished block back to the kernel. Only once no frame of theirs is in use.
    pub fn release_held(&mut self) {
        let oldest = (self.block + self.block_count - self.held) % self.block_count;
        for k in 0..self.held {
            let block = (oldest + k) % self.block_count;
            self.block_status(block)
                .store(sys::TP_STATUS_KERNEL, Ordering::Release);
        }
        self.held = 0;
    }
}
