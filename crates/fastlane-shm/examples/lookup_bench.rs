//! Lookup cost: `cargo run --release --example lookup_bench`. For tables of 20K and 1M records
//! (16-byte keys, 64-byte values, as a PDR match key and its FAR), the mean time of `get_into` on
//! random keys that all hit, single-threaded, with and without a writer updating meanwhile.

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

fn bench(entries: u64, with_writer: bool) {
    let name = format!("fastlane-shm-bench-{}", std::process::id());
    let _ = Region::unlink(&name);
    let region = Region::create(&name, &Layout::new().table("pdr", 16, 64, entries)).unwrap();
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
    let mut value = [0u8; 64];
    let mut best = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let mut hits = 0u64;
        for k in &keys {
            hits += u64::from(reader.get_into(black_box(k), &mut value));
        }
        let ns = started.elapsed().as_nanos() as f64 / lookups as f64;
        assert_eq!(hits, lookups as u64, "every key is present ({entries})");
        best = best.min(ns);
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(writer) = writer {
        writer.join().unwrap();
    }
    let writer = if with_writer { ", writer updating" } else { "" };
    println!("{entries:>8} entries{writer:<18}: {best:6.1} ns per lookup (best of 3 x {lookups} random hits)");
    Region::unlink(&name).unwrap();
}

fn main() {
    for entries in [20_000, 1_000_000] {
        bench(entries, false);
        bench(entries, true);
    }
}
