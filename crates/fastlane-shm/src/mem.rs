//! The shared mapping and the only ways to touch it: atomics at 8-byte-aligned offsets, and word
//! copies made of relaxed atomic loads and stores, so that a copy racing with a writer in another
//! process is defined behaviour (the reader's seqlock then throws the copy away) and the optimizer
//! cannot tear or re-read it.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use fastlane_sys::{Mmap, SysResult};

/// A `MAP_SHARED` mapping of a region's file, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    map: Mmap,
    fd: OwnedFd,
}

impl Mapping {
    pub(crate) fn new(fd: OwnedFd, len: usize) -> SysResult<Self> {
        let map = Mmap::shared(&fd, len, 0, false)?;
        Ok(Mapping { map, fd })
    }

    pub(crate) fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    #[inline]
    fn at(&self, offset: usize, size: usize) -> *mut u8 {
        assert!(
            offset.is_multiple_of(size.min(8)) && offset + size <= self.map.len(),
            "offset {offset} out of the region"
        );
        // SAFETY: checked above to stay inside the mapping.
        unsafe { self.map.as_ptr().add(offset) }
    }

    #[inline]
    pub(crate) fn u64(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: in bounds and aligned to its size (the mapping is page-aligned); shared memory is only
        // touched through atomics or protocol-guarded copies.
        unsafe { AtomicU64::from_ptr(self.at(offset, 8).cast()) }
    }

    pub(crate) fn u32(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: as for `u64`.
        unsafe { AtomicU32::from_ptr(self.at(offset, 4).cast()) }
    }

    /// The words at `offset..offset + words * 8`.
    #[inline]
    pub(crate) fn words(&self, offset: usize, words: usize) -> &[AtomicU64] {
        // SAFETY: in bounds and aligned (checked by `at`); AtomicU64 has u64's layout.
        unsafe { std::slice::from_raw_parts(self.at(offset, words * 8).cast(), words) }
    }
}

/// Copies `words` into `out` (the tail of the last word is cut), with relaxed atomic loads.
#[inline]
pub(crate) fn load_bytes(words: &[AtomicU64], out: &mut [u8]) {
    // Whole words are fixed-size copies the compiler turns into plain stores, not memcpy calls.
    let whole = out.len() / 8;
    let mut chunks = out.chunks_exact_mut(8);
    for (word, chunk) in words.iter().zip(&mut chunks) {
        chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
    }
    let tail = chunks.into_remainder();
    if let Some(word) = words.get(whole).filter(|_| !tail.is_empty()) {
        let bytes = word.load(Ordering::Relaxed).to_ne_bytes();
        tail.copy_from_slice(&bytes[..tail.len()]);
    }
}

/// `bytes` as zero-padded native-endian words.
#[inline]
fn padded_words(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let chunks = bytes.chunks_exact(8);
    let tail = chunks.remainder();
    let last = (!tail.is_empty()).then(|| {
        let mut padded = [0u8; 8];
        padded[..tail.len()].copy_from_slice(tail);
        u64::from_ne_bytes(padded)
    });
    chunks
        .map(|chunk| u64::from_ne_bytes(chunk.try_into().unwrap_or_default()))
        .chain(last)
}

/// Stores `bytes` into `words`, zero-padding the last word, with relaxed atomic stores.
#[inline]
pub(crate) fn store_bytes(words: &[AtomicU64], bytes: &[u8]) {
    for (word, value) in words.iter().zip(padded_words(bytes)) {
        word.store(value, Ordering::Relaxed);
    }
}

/// Whether `words` hold `key` (zero-padded to whole words).
#[inline]
pub(crate) fn words_equal(words: &[AtomicU64], key: &[u64]) -> bool {
    words
        .iter()
        .zip(key)
        .all(|(word, k)| word.load(Ordering::Relaxed) == *k)
}

/// `bytes` as zero-padded native-endian words.
#[inline]
pub(crate) fn to_words(bytes: &[u8], out: &mut [u64]) {
    for (word, value) in out.iter_mut().zip(padded_words(bytes)) {
        *word = value;
    }
}
