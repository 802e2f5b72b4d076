//! What the fast path's lookup costs per packet: `cargo run --release -p fastlane-upf-rules
//! --example lookup_cost [-- ROUNDS]`. For 10,000 and 100,000 sessions (each an uplink PDR by
//! TEID and a downlink PDR by UE address, with a FAR, a QER and a URR), packets of sessions in a
//! random order the prefetcher cannot follow: the mean ns of `uplink` and `downlink` alone, and
//! with `admit` (gate, URR quota check and exact counts), and `lookup_batch` in batches of
//! BATCH; next to one probe of a table shaped like the PDR table (as many records, of a PDR's
//! size) that reads a PDR's head: the memory cost of any design that reads a PDR per packet.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use common::*;
use fastlane_shm::{Layout, Region};
use fastlane_upf_rules::*;

const LOOKUPS: usize = 2_000_000;

fn random_order(n: u32, count: usize) -> Vec<u32> {
    let mut x = 0x1234_5678_9abc_def1u64;
    (0..count)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) % u64::from(n)) as u32
        })
        .collect()
}

fn ns_per(count: usize, run: impl FnOnce()) -> f64 {
    let started = Instant::now();
    run();
    started.elapsed().as_nanos() as f64 / count as f64
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map_or(3, |r| r.parse().expect("ROUNDS: a number"));
    println!(
        "sessions | uplink | uplink+admit | downlink | downlink+admit | uplink batch | downlink batch | one PDR-sized probe \
         (ns/packet, best of {rounds})"
    );
    for sessions in [10_000u32, 100_000] {
        let name = format!("upf-lookup-cost-{}-{sessions}", std::process::id());
        let _ = Region::unlink(&name);
        let caps = Capacities {
            sessions,
            pdrs: 2 * sessions,
            fars: 2 * sessions,
            qers: sessions,
            urrs: sessions,
            ..Capacities::default()
        };
        let region = Region::create(&name, &layout(&caps)).expect("region");
        let mut writer = Writer::attach(&region, &caps).expect("writer");
        for i in 0..sessions {
            writer
                .put(u64::from(i) + 1, basic_session(i))
                .expect("install");
        }
        let tables = UpfTables::from_region(Region::open(&name, &layout(&caps)).expect("open"))
            .expect("tables");
        let mut events = tables.events(0).expect("events");
        let order = random_order(sessions, LOOKUPS);
        let up: Vec<(u32, Flow)> = order
            .iter()
            .map(|&i| (teid_of(i), udp(ue_addr(i), [8, 8, 8, 8], 1000, 53)))
            .collect();
        let down: Vec<Flow> = order
            .iter()
            .map(|&i| udp([8, 8, 8, 8], ue_addr(i), 53, 1000))
            .collect();

        let probe_name = format!("{name}-probe");
        let _ = Region::unlink(&probe_name);
        let pdr_size = std::mem::size_of::<PdrRecord>();
        let probe_region = Region::create(
            &probe_name,
            &Layout::new().table("t", 16, pdr_size, 2 * u64::from(sessions)),
        )
        .expect("probe region");
        let mut probe = probe_region.table("t").expect("table");
        let key = |i: u32| {
            let mut k = [0u8; 16];
            k[..4].copy_from_slice(&i.to_le_bytes());
            k
        };
        let value = vec![7u8; pdr_size];
        for i in 0..2 * sessions {
            probe.insert(&key(i), &value).expect("insert");
        }
        let keys: Vec<[u8; 16]> = order.iter().map(|&i| key(i)).collect();
        let up_queries: Vec<Query> = up
            .iter()
            .map(|(teid, flow)| Query::Uplink {
                teid: *teid,
                qfi: None,
                flow: *flow,
            })
            .collect();
        let down_queries: Vec<Query> = down
            .iter()
            .map(|flow| Query::Downlink { flow: *flow })
            .collect();
        let mut results = vec![Lookup::Unknown; BATCH];

        let mut best = [f64::MAX; 7];
        for _ in 0..rounds {
            let runs = [
                ns_per(LOOKUPS, || {
                    for (teid, flow) in &up {
                        black_box(tables.uplink(*teid, None, flow));
                    }
                }),
                ns_per(LOOKUPS, || {
                    for (teid, flow) in &up {
                        if let Lookup::Pdr(m) = tables.uplink(*teid, None, flow) {
                            black_box(tables.admit(&m, Direction::Uplink, 64, 0, &mut events));
                        }
                    }
                }),
                ns_per(LOOKUPS, || {
                    for flow in &down {
                        black_box(tables.downlink(flow));
                    }
                }),
                ns_per(LOOKUPS, || {
                    for flow in &down {
                        if let Lookup::Pdr(m) = tables.downlink(flow) {
                            black_box(tables.admit(&m, Direction::Downlink, 64, 0, &mut events));
                        }
                    }
                }),
                ns_per(LOOKUPS, || {
                    for batch in up_queries.chunks(BATCH) {
                        tables.lookup_batch(batch, &mut results);
                        black_box(&results);
                    }
                }),
                ns_per(LOOKUPS, || {
                    for batch in down_queries.chunks(BATCH) {
                        tables.lookup_batch(batch, &mut results);
                        black_box(&results);
                    }
                }),
                ns_per(LOOKUPS, || {
                    let head = std::mem::size_of::<PdrHot>();
                    for k in &keys {
                        black_box(probe.read_with(k, |words| {
                            words[..head / 8].iter().fold(0u64, |a, w| {
                                a ^ w.load(std::sync::atomic::Ordering::Relaxed)
                            })
                        }));
                    }
                }),
            ];
            for (b, r) in best.iter_mut().zip(runs) {
                *b = b.min(r);
            }
        }
        // Every lookup found its session, or the figures would be of misses.
        let found = up
            .iter()
            .take(1000)
            .filter(|(teid, flow)| matches!(tables.uplink(*teid, None, flow), Lookup::Pdr(_)))
            .count();
        assert_eq!(found, 1000, "lookups missed");
        println!(
            "{sessions:>8} | {:>6.1} | {:>12.1} | {:>8.1} | {:>14.1} | {:>12.1} | {:>14.1} | {:>9.1}",
            best[0], best[1], best[2], best[3], best[4], best[5], best[6]
        );
        drop(probe);
        let _ = Region::unlink(&probe_name);
        let _ = Region::unlink(&name);
    }
}
