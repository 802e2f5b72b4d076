//! The clock of the fast path, and the rate limit of the messages one thread originates (Error
//! Indications). The QERs' shared buckets are the rules crate's (`upf_rules::take_tokens`),
//! on the same clock: CLOCK_MONOTONIC in nanoseconds, the same in every process.

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

/// A token bucket of messages for one thread: `per_second`, with bursts of `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLimit {
    interval_ns: u64,
    tolerance_ns: u64,
    /// GCRA's theoretical arrival time of the next message.
    tat: u64,
}

impl MessageLimit {
    /// `per_second` 0 sends nothing.
    pub fn new(per_second: u64, burst: u64) -> MessageLimit {
        let interval_ns = 1_000_000_000u64.checked_div(per_second).unwrap_or(u64::MAX);
        MessageLimit {
            interval_ns,
            tolerance_ns: interval_ns.saturating_mul(burst),
            tat: 0,
        }
    }

    /// Whether one more message may go at `now`; if so it is charged.
    pub fn admit(&mut self, now: u64) -> bool {
        if self.interval_ns == u64::MAX {
            return false;
        }
        let start = self.tat.max(now);
        if start - now > self.tolerance_ns {
            return false;
        }
        self.tat = start.saturating_add(self.interval_ns);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_lets_its_rate_and_its_burst_through() {
        let mut limit = MessageLimit::new(10, 5);
        // One second of a message offered every millisecond: the first, the burst of 5 behind
        // it, then one every 100 ms (at 100, 200, ... 900 ms).
        let sent = (0..1000u64)
            .filter(|i| limit.admit(1_000_000_000 + i * 1_000_000))
            .count();
        assert_eq!(sent, 1 + 5 + 9);
        let mut none = MessageLimit::new(0, 5);
        assert!(!none.admit(1));
    }

    #[test]
    fn the_clock_moves_forward() {
        let a = now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(now_ns() - a >= 2_000_000);
    }
}
