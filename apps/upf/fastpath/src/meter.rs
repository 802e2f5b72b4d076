//! Rate limits as GCRA (the virtual-scheduling form of a token bucket, ITU-T I.371): one
//! theoretical arrival time per bucket, so that a bucket shared by several threads (a QER's MBR
//! in shared memory) is one atomic word updated by compare-and-swap, and a thread's own bucket
//! (the Error Indication limit) is a plain one. Time is CLOCK_MONOTONIC in nanoseconds, the same
//! in every process, so a bucket outlives the process that last used it.

use core::sync::atomic::{AtomicU64, Ordering};

/// CLOCK_MONOTONIC now, in nanoseconds.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// A rate: what a unit (a byte, a message) costs in nanoseconds, and how far ahead of the rate a
/// burst may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Nanoseconds per unit, scaled by 2^16 so that fast rates keep their precision.
    cost_ns_x65536: u64,
    tolerance_ns: u64,
}

const SCALE: u32 = 16;

impl Rate {
    /// `units_per_second` (> 0), letting a burst of `burst_units` through at once.
    pub fn new(units_per_second: u64, burst_units: u64) -> Rate {
        let per_second = units_per_second.max(1);
        let cost = ((1_000_000_000u128 << SCALE) / u128::from(per_second)).max(1) as u64;
        let tolerance = (u128::from(cost) * u128::from(burst_units)) >> SCALE;
        Rate {
            cost_ns_x65536: cost,
            tolerance_ns: tolerance.min(u128::from(u64::MAX / 2)) as u64,
        }
    }

    /// An MBR in kbit/s, metered in bytes with a burst of 10 ms at that rate (at least two
    /// full-size packets).
    pub fn from_kbps(kbps: u64) -> Rate {
        let bytes_per_second = kbps.saturating_mul(1000) / 8;
        Rate::new(bytes_per_second, (bytes_per_second / 100).max(2 * 1514))
    }

    /// The bucket's next arrival time if `units` conform at `now`, else `None`.
    #[inline]
    fn admit(&self, tat: u64, now: u64, units: u64) -> Option<u64> {
        let start = tat.max(now);
        if start - now > self.tolerance_ns {
            return None;
        }
        let cost = (u128::from(self.cost_ns_x65536) * u128::from(units)) >> SCALE;
        Some(start.saturating_add(cost.min(u128::from(u64::MAX)) as u64))
    }

    /// Whether `units` conform to the rate at `now` for the bucket `tat`, shared by any number of
    /// threads; conforming units are charged to it.
    #[inline]
    pub fn admit_shared(&self, tat: &AtomicU64, now: u64, units: u64) -> bool {
        let mut current = tat.load(Ordering::Relaxed);
        loop {
            let Some(next) = self.admit(current, now, units) else {
                return false;
            };
            match tat.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// As [`Rate::admit_shared`], for a bucket one thread owns.
    #[inline]
    pub fn admit_local(&self, tat: &mut u64, now: u64, units: u64) -> bool {
        match self.admit(*tat, now, units) {
            Some(next) => {
                *tat = next;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_lets_its_rate_through_over_a_simulated_second_and_its_burst_at_once() {
        // 8 Mbit/s = 1,000,000 bytes/s, burst 10,000 bytes.
        let rate = Rate::from_kbps(8000);
        let tat = AtomicU64::new(0);
        let start = 5_000_000_000u64;
        // Offered: one 1000-byte packet every 0.5 ms (2 MB/s, twice the rate), for 1 s.
        let mut passed = 0u64;
        for i in 0..2000u64 {
            if rate.admit_shared(&tat, start + i * 500_000, 1000) {
                passed += 1000;
            }
        }
        let expected = 1_000_000.0;
        let error = (passed as f64 - expected).abs() / expected;
        assert!(error < 0.02, "passed {passed} bytes in a second");
        // A fresh bucket takes its burst at one instant and nothing more.
        let fresh = AtomicU64::new(0);
        let at_once = (0..100)
            .filter(|_| rate.admit_shared(&fresh, start, 1000))
            .count();
        assert_eq!(
            at_once, 11,
            "10,000 bytes of tolerance and the packet that starts it"
        );
    }

    #[test]
    fn a_local_bucket_limits_messages_per_second() {
        let rate = Rate::new(10, 5);
        let mut tat = 0;
        let sent = (0..1000u64)
            .filter(|i| rate.admit_local(&mut tat, 1_000_000_000 + i * 1_000_000, 1))
            .count();
        // One second at 10/s, plus a burst of 5 (and the one that opens it).
        assert!((15..=16).contains(&sent), "{sent}");
    }

    #[test]
    fn the_clock_moves_forward() {
        let a = now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(now_ns() - a >= 2_000_000);
    }
}
