//! Readers in other threads never see a session half changed while a writer changes sessions as
//! fast as it can: every look finds one whole generation, and generations never go backwards.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use fastlane_upf_rules::*;

#[test]
fn readers_never_see_a_torn_session_while_the_writer_changes_them() {
    let name = Name::new("storm");
    let caps = small_caps();
    let (_region, tables, mut writer) = open(&name, &caps);
    let sessions = 16u32;
    for i in 0..sessions {
        writer.put(u64::from(i) + 1, storm_session(i, 0)).unwrap();
    }
    let stop = AtomicBool::new(false);
    let looks = AtomicU64::new(0);
    let changes = std::thread::scope(|s| {
        for _ in 0..2 {
            let (tables, stop, looks) = (&tables, &stop, &looks);
            s.spawn(move || {
                let mut last = vec![0u32; sessions as usize];
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..sessions {
                        let generation =
                            check_storm_session(tables, i).unwrap_or_else(|e| panic!("{e}"));
                        assert!(
                            generation >= last[i as usize],
                            "session {i}: generation {generation} after {}",
                            last[i as usize]
                        );
                        last[i as usize] = generation;
                        n += 1;
                    }
                }
                looks.fetch_add(n, Ordering::Relaxed);
            });
        }
        let started = Instant::now();
        let mut tag = 0u32;
        while started.elapsed() < Duration::from_millis(1500) {
            tag += 1;
            for i in 0..sessions {
                writer.put(u64::from(i) + 1, storm_session(i, tag)).unwrap();
            }
        }
        stop.store(true, Ordering::Relaxed);
        tag
    });
    let looks = looks.load(Ordering::Relaxed);
    assert!(
        changes > 100 && looks > 10_000,
        "{changes} rounds of changes, {looks} looks: too few to tell"
    );
}
