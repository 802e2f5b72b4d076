//! A fixed array of cells of 64-bit atomic words in shared memory, with no writer lock: every
//! process that maps the region may load, store and update any word atomically. For state that
//! several data-plane threads (and the slow path) change at once, such as packet counters, token
//! buckets and one-word publication flags, where a table's one-writer seqlock does not fit.
//!
//! A cell is `words` consecutive words; cells follow each other without padding, so a cell of 8
//! words fills one cache line (the array starts page-aligned). What the words mean, and which
//! ordering each access needs, is the application's protocol.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::layout::ObjectSpec;
use crate::mem::Mapping;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    words: usize,
    capacity: u64,
}

impl Geometry {
    pub(crate) fn of(spec: &ObjectSpec) -> Self {
        Geometry {
            words: spec.key_size as usize / 8,
            capacity: spec.capacity,
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        self.capacity as usize * self.words * 8
    }
}

/// A handle on one array of cells. Handles are cheap to share between threads (`&self` only).
#[derive(Debug)]
pub struct Cells {
    map: Arc<Mapping>,
    name: String,
    geo: Geometry,
    base: usize,
}

impl Cells {
    pub(crate) fn new(map: Arc<Mapping>, spec: &ObjectSpec, base: usize) -> Self {
        Cells {
            map,
            name: spec.name.clone(),
            geo: Geometry::of(spec),
            base,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Words in each cell.
    pub fn words(&self) -> usize {
        self.geo.words
    }

    pub fn capacity(&self) -> u64 {
        self.geo.capacity
    }

    /// Starts fetching cell `index` from memory (a hint: never faults, never waits).
    #[inline]
    pub fn prefetch(&self, index: u64) {
        if let Some(cell) = self.cell(index) {
            crate::table::prefetch(&cell[0]);
        }
    }

    /// The words of cell `index`; None past the end.
    #[inline]
    pub fn cell(&self, index: u64) -> Option<&[AtomicU64]> {
        (index < self.geo.capacity).then(|| {
            self.map.words(
                self.base + index as usize * self.geo.words * 8,
                self.geo.words,
            )
        })
    }
}
