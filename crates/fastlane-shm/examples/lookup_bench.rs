//! Lookup cost: `cargo run --release --example lookup_bench`. For tables of 20K and 1M records
//! (16-byte keys, 64-byte values, as a PDR match key and its FAR), the mean time of `get_into` on
//! random keys that all hit, one by one and in batches, with and without a writer updating
//! meanwhile; next to the machine's memory latency, which bounds a lookup that misses the cache.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use fastlane_shm::{Layout, Region};

fn key(i: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    key[8..].copy_from_slice(&(i ^ 0x5555).to_le_bytes());
    key
}

/// xorshift64*: a random order the prefetcher cannot follow.
fn random_indices(n: u64, count: usize) -> Vec<u64> {
    let mut x = 0x1234_5678_9abc_def1u64;
    (0..count)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        })
        .collect()
}

const BATCH: usize = 32;

/// The best mean time per lookup of three runs of `run`, which returns how many keys it found.
fn best_of_3(lookups: usize, mut run: impl FnMut() -> u64) -> f64 {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            let hits = run();
            let ns = started.elapsed().as_nanos() as f64 / lookups as f64;
            assert_eq!(hits, lookups as u64, "every key is present");
            ns
        })
        .fold(f64::MAX, f64::min)
}

/// The machine's latency of one random memory access, dependent on the previous one, over
/// `bytes`: the floor under a lookup whose record is not in cache.
fn memory_latency(bytes: usize) -> f64 {
    let lines = bytes / 64;
    let mut order: Vec<usize> = (0..lines).collect();
    for (i, j) in random_indices(u64::MAX, lines)
        .into_iter()
        .enumerate()
        .skip(1)
        .rev()
    {
        order.swap(i, (j % (i as u64 + 1)) as usize);
    }
    let mut next = vec![0usize; lines * 8];
    for (k, line) in order.iter().enumerate() {
        next[line * 8] = order[(k + 1) % lines] * 8;
    }
    let steps = 2_000_000;
    let started = Instant::now();
    let mut at = 0;
    for _ in 0..steps {
        at = next[black_box(at)];
    }
    black_box(at);
    started.elapsed().as_nanos() as f64 / steps as f64
}

/// Removes the benchmark's region even when an assertion fails.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = Region::unlink(&self.0);
    }
}

fn bench(entries: u64, with_writer: bool) {
    let name = Unlink(format!("fastlane-shm-bench-{}", std::process::id()));
    let region = Region::create(&name.0, &Layout::new().table("pdr", 16, 64, entries)).unwrap();
    let mut table = region.table("pdr").unwrap();
    for i in 0..entries {
        table.insert(&key(i), &[i as u8; 64]).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = with_writer.then(|| {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut round = 0u8;
            while !stop.load(Ordering::Relaxed) {
                round = round.wrapping_add(1);
                for i in (0..entries).step_by(97) {
                    table.insert(&key(i), &[round; 64]).unwrap();
                }
            }
        })
    });
    let reader = region.table("pdr").unwrap();
    let lookups = 5_000_000;
    let keys: Vec<[u8; 16]> = random_indices(entries, lookups)
        .into_iter()
        .map(key)
        .collect();
    let single = best_of_3(lookups, || {
        let mut value = [0u8; 64];
        keys.iter()
            .map(|k| u64::from(reader.get_into(black_box(k), &mut value)))
            .sum()
    });
    let batched = best_of_3(lookups, || {
        let mut values = [0u8; 64 * BATCH];
        let mut found = [false; BATCH];
        keys.chunks(BATCH)
            .map(|batch| reader.get_batch_into(black_box(batch), &mut values, &mut found) as u64)
            .sum()
    });
    stop.store(true, Ordering::Relaxed);
    if let Some(writer) = writer {
        writer.join().unwrap();
    }
    let writer = if with_writer { ", writer updating" } else { "" };
    println!(
        "{entries:>8} entries{writer:<18}: get_into {single:6.1} ns, get_batch_into({BATCH}) {batched:6.1} ns per lookup"
    );
}

fn main() {
    for entries in [20_000u64, 1_000_000] {
        // The table's size: slots of 8 + 16 + 64 bytes, 4/3 of the entries.
        let bytes = entries as usize * 88 * 4 / 3;
        println!(
            "{entries:>8} entries: one dependent random memory access over {} MB takes {:.1} ns here",
            bytes >> 20,
            memory_latency(bytes)
        );
        bench(entries, false);
        bench(entries, true);
    }
}
