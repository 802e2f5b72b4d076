//! An owner lock in shared memory that survives its owner's death: a word holding the owner's pid
//! (high half) and a per-handle token (low half), taken with compare-exchange; a newcomer may
//! break it when that pid no longer runs. Pids are those of one pid namespace.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::error::ShmError;
use fastlane_sys::process::process_alive;

static NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);

/// This handle's stamp: our pid and a token no other handle in this process uses.
pub(crate) fn new_stamp() -> u64 {
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed).max(1);
    (u64::from(std::process::id()) << 32) | u64::from(token)
}

pub(crate) fn acquire(
    word: &AtomicU64,
    stamp: u64,
    role: &'static str,
    object: &str,
) -> Result<(), ShmError> {
    loop {
        let current = word.load(Ordering::Acquire);
        if current == stamp {
            return Ok(());
        }
        if current != 0 {
            let pid = (current >> 32) as u32;
            if pid == std::process::id() {
                return Err(ShmError::LockedHere {
                    role,
                    object: object.to_string(),
                });
            }
            if process_alive(pid) {
                return Err(ShmError::Locked {
                    role,
                    object: object.to_string(),
                    pid,
                });
            }
        }
        // AcqRel: what the previous owner wrote before dying or releasing is visible to us.
        if word
            .compare_exchange(current, stamp, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            return Ok(());
        }
    }
}

pub(crate) fn release(word: &AtomicU64, stamp: u64) {
    let _ = word.compare_exchange(stamp, 0, Ordering::Release, Ordering::Relaxed);
}
