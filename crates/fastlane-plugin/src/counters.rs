//! Per-thread counters a plugin declares by name and the host reads at any time. The host owns
//! the storage; the plugin's thread is the only writer, so an add is a relaxed load and store.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One instance's counters, indexed as [`Plugin::COUNTERS`](crate::Plugin::COUNTERS) names them.
#[derive(Debug)]
pub struct Counters<'a>(&'a [AtomicU64]);

impl<'a> Counters<'a> {
    pub(crate) fn new(values: &'a [AtomicU64]) -> Self {
        Counters(values)
    }

    /// Adds `n` to counter `index`.
    ///
    /// # Panics
    /// When `index` is not below `Plugin::COUNTERS.len()` (a bug in the plugin, which the host
    /// reports as the plugin's failure).
    #[inline(always)]
    pub fn add(&self, index: usize, n: u64) {
        let counter = &self.0[index];
        counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    }
    pub fn get(&self, index: usize) -> u64 {
        self.0[index].load(Relaxed)
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
