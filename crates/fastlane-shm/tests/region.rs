//! Regions, tables and channels across threads and processes, including a writer killed with
//! SIGKILL mid-stream.

use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fastlane_shm::{receive_region, send_region, Existing, Layout, Region, ShmError};

/// A region name no other test (or test run) uses, removed on drop even when the test fails.
struct Name(String);

impl Name {
    fn new(tag: &str) -> Self {
        let name = format!("fastlane-shm-test-{tag}-{}", std::process::id());
        let _ = Region::unlink(&name);
        Name(name)
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = Region::unlink(&self.0);
    }
}

/// Value of record `key` at `counter`: the 8-byte unit (key, counter) repeated, so a torn copy
/// (two writes mixed) shows as units that differ.
fn pattern(key: u32, counter: u32, len: usize) -> Vec<u8> {
    let mut unit = [0u8; 8];
    unit[..4].copy_from_slice(&key.to_le_bytes());
    unit[4..].copy_from_slice(&counter.to_le_bytes());
    unit.iter().copied().cycle().take(len).collect()
}

/// The counter of a consistent value of `key`, or a description of how it is torn.
fn check(key: u32, value: &[u8]) -> Result<u32, String> {
    let first = &value[..8];
    if first[..4] != key.to_le_bytes() {
        return Err(format!(
            "key {key}: value belongs to another key: {first:?}"
        ));
    }
    if let Some(i) = value
        .chunks(8)
        .position(|unit| unit != &first[..unit.len()])
    {
        return Err(format!("key {key}: torn at unit {i}"));
    }
    Ok(u32::from_le_bytes(first[4..8].try_into().unwrap()))
}

fn rules_layout(value_size: usize, capacity: u64) -> Layout {
    Layout::new()
        .table("rules", 8, value_size, capacity)
        .channel("events", 32, 4)
}

#[test]
fn insert_get_remove_iterate() {
    let name = Name::new("basic");
    let region = Region::create(&name.0, &rules_layout(24, 100)).unwrap();
    let mut table = region.table("rules").unwrap();
    assert!(table.is_empty());
    for k in 0..100u64 {
        assert!(table
            .insert(&k.to_le_bytes(), &pattern(k as u32, 0, 24))
            .unwrap());
    }
    assert_eq!(table.len(), 100);
    assert!(matches!(
        table.insert(&1000u64.to_le_bytes(), &pattern(1000, 0, 24)),
        Err(ShmError::TableFull { capacity: 100, .. })
    ));
    assert!(!table
        .insert(&7u64.to_le_bytes(), &pattern(7, 9, 24))
        .unwrap());
    let mut value = [0u8; 24];
    assert!(table.get_into(&7u64.to_le_bytes(), &mut value));
    assert_eq!(check(7, &value), Ok(9));
    for k in (0..100u64).step_by(2) {
        assert!(table.remove(&k.to_le_bytes()).unwrap());
        assert!(!table.remove(&k.to_le_bytes()).unwrap());
    }
    assert_eq!(table.len(), 50);
    for k in 0..100u64 {
        assert_eq!(
            table.get_into(&k.to_le_bytes(), &mut value),
            k % 2 == 1,
            "key {k}"
        );
    }
    // A batch longer than one prefetch round, with absent keys and a key of the wrong size.
    let mut batch: Vec<Vec<u8>> = (0..40u64).map(|k| k.to_le_bytes().to_vec()).collect();
    batch[3] = vec![1, 2, 3];
    let mut values = vec![0u8; 24 * batch.len()];
    let mut found = vec![false; batch.len()];
    assert_eq!(table.get_batch_into(&batch, &mut values, &mut found), 19);
    for (k, hit) in found.iter().enumerate() {
        assert_eq!(*hit, k % 2 == 1 && k != 3, "key {k}");
        if *hit {
            let expected = if k == 7 { 9 } else { 0 };
            assert_eq!(check(k as u32, &values[k * 24..(k + 1) * 24]), Ok(expected));
        }
    }
    let mut keys: Vec<u64> = table
        .iter()
        .map(|(k, v)| {
            let k = u64::from_le_bytes(k.try_into().unwrap());
            check(k as u32, &v).unwrap();
            k
        })
        .collect();
    keys.sort();
    assert_eq!(keys, (1..100).step_by(2).collect::<Vec<u64>>());
    // Churn: tombstones are reused or cleared, so the table never fills up with them.
    for round in 0..50u32 {
        for k in 200..250u64 {
            table
                .insert(&k.to_le_bytes(), &pattern(k as u32, round, 24))
                .unwrap();
        }
        for k in 200..250u64 {
            assert!(table.remove(&k.to_le_bytes()).unwrap());
        }
    }
    assert_eq!(table.len(), 50);
    assert!(matches!(
        table.insert(&[1, 2, 3], &[0; 24]),
        Err(ShmError::WrongSize { what: "key", .. })
    ));
    assert!(!table.get_into(&[1, 2, 3], &mut value));
}

#[test]
fn create_reuse_unlink_and_layout_mismatch() {
    let name = Name::new("layout");
    let layout = rules_layout(64, 1000);
    let first = Region::create(&name.0, &layout).unwrap();
    assert!(first.created());
    let err = Region::create(&name.0, &layout).unwrap_err();
    assert!(matches!(err, ShmError::AlreadyExists { .. }), "{err}");
    let reused = Region::create_with(&name.0, &layout, Existing::Reuse).unwrap();
    assert!(!reused.created());
    assert!(!reused.unlink_if_created().unwrap());

    let other = Layout::new()
        .table("rules", 8, 32, 1000)
        .channel("events", 32, 8)
        .table("extra", 4, 4, 10);
    let err = Region::open(&name.0, &other).unwrap_err().to_string();
    for part in [
        "table \"rules\": value size 64 in the region, 32 in the layout",
        "channel \"events\": capacity 4 in the region, 8 in the layout",
        "table \"extra\" missing in the region",
    ] {
        assert!(err.contains(part), "{err:?} lacks {part:?}");
    }
    let err = Region::create_with(&name.0, &other, Existing::Reuse).unwrap_err();
    assert!(matches!(err, ShmError::LayoutMismatch { .. }), "{err}");

    assert!(first.unlink_if_created().unwrap());
    assert!(matches!(
        Region::open(&name.0, &layout),
        Err(ShmError::NotFound { .. })
    ));
    for bad in ["", "../etc/passwd", ".hidden", "a/b", "sp ace"] {
        assert!(matches!(
            Region::create(bad, &layout),
            Err(ShmError::InvalidName { .. })
        ));
    }
    assert!(matches!(
        Region::create(&name.0, &Layout::new().table("t", 65, 8, 1)),
        Err(ShmError::InvalidLayout(_))
    ));
    assert!(matches!(
        first.table("events"),
        Err(ShmError::UnknownObject { kind: "table", .. })
    ));
}

#[test]
fn handles_are_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Region>();
    shareable::<fastlane_shm::Table>();
    shareable::<fastlane_shm::Channel>();
    shareable::<fastlane_shm::Cells>();
}

#[test]
fn one_writer_at_a_time() {
    let name = Name::new("writer");
    let region = Region::create(&name.0, &rules_layout(8, 10)).unwrap();
    let mut a = region.table("rules").unwrap();
    let mut b = region.table("rules").unwrap();
    a.insert(&[1; 8], &[1; 8]).unwrap();
    assert!(matches!(
        b.insert(&[2; 8], &[2; 8]),
        Err(ShmError::LockedHere { .. })
    ));
    drop(a);
    b.insert(&[2; 8], &[2; 8]).unwrap();
    assert_eq!(b.get(&[1; 8]), Some(vec![1; 8]));
}

#[test]
fn full_channel_counts_drops() {
    let name = Name::new("channel");
    let region = Region::create(&name.0, &rules_layout(8, 10)).unwrap();
    let mut tx = region.channel("events").unwrap();
    let mut rx = region.channel("events").unwrap();
    for i in 0..4u8 {
        assert!(tx.send(&[i; 3]).unwrap());
    }
    assert!(!tx.send(b"full").unwrap());
    assert!(!tx.send(b"full").unwrap());
    assert_eq!(rx.drops(), 2);
    assert!(matches!(
        tx.send(&[0; 33]),
        Err(ShmError::WrongSize {
            what: "message",
            ..
        })
    ));
    let mut out = [0u8; 32];
    assert_eq!(rx.recv(&mut out).unwrap(), Some(3));
    assert_eq!(&out[..3], &[0; 3]);
    assert!(tx.send(b"after").unwrap());
    let mut got = Vec::new();
    assert_eq!(rx.recv_batch(10, |m| got.push(m.to_vec())).unwrap(), 4);
    assert_eq!(
        got,
        vec![vec![1; 3], vec![2; 3], vec![3; 3], b"after".to_vec()]
    );
    assert_eq!(rx.recv(&mut out).unwrap(), None);
    let mut second = region.channel("events").unwrap();
    assert!(matches!(
        second.send(b"x"),
        Err(ShmError::LockedHere {
            role: "producer end",
            ..
        })
    ));
}

#[test]
fn memfd_region_passed_over_a_unix_socket() {
    let layout = rules_layout(8, 10);
    let region = Region::create_memfd("fastlane-shm-test", &layout).unwrap();
    assert_eq!(region.name(), None);
    let mut table = region.table("rules").unwrap();
    table.insert(&[3; 8], &[4; 8]).unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    send_region(&a, &region).unwrap();
    let received = receive_region(&b, &layout).unwrap();
    assert_eq!(
        received.table("rules").unwrap().get(&[3; 8]),
        Some(vec![4; 8])
    );
    let err = Region::from_fd(
        received.fd().try_clone_to_owned().unwrap(),
        &rules_layout(16, 10),
    );
    assert!(matches!(err, Err(ShmError::LayoutMismatch { .. })));
}

/// Readers checking every value they read while `stop` is false; returns (reads, hits).
fn spawn_readers(
    region: &Region,
    keys: u32,
    value_size: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<Result<(u64, u64), String>>> {
    (0..2)
        .map(|seed| {
            let table = region.table("rules").unwrap();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut value = vec![0u8; value_size];
                let (mut reads, mut hits) = (0u64, 0u64);
                let mut k: u32 = seed;
                while !stop.load(Ordering::Relaxed) {
                    k = (k.wrapping_mul(1_103_515_245).wrapping_add(12_345)) % keys;
                    reads += 1;
                    if table.get_into(&u64::from(k).to_le_bytes(), &mut value) {
                        hits += 1;
                        check(k, &value)?;
                    }
                }
                Ok((reads, hits))
            })
        })
        .collect()
}

#[test]
fn readers_never_see_a_torn_value_while_a_thread_writes() {
    let name = Name::new("threads");
    let (keys, value_size) = (64u32, 256);
    let region = Region::create(&name.0, &rules_layout(value_size, 128)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers = spawn_readers(&region, keys, value_size, &stop);
    let mut table = region.table("rules").unwrap();
    let writes = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut counter = 0u32;
    while Instant::now() < deadline {
        counter += 1;
        for k in 0..keys {
            let key = u64::from(k).to_le_bytes();
            if (k + counter).is_multiple_of(7) {
                table.remove(&key).unwrap();
            } else {
                table
                    .insert(&key, &pattern(k, counter, value_size))
                    .unwrap();
            }
            writes.fetch_add(1, Ordering::Relaxed);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        let (reads, hits) = reader.join().unwrap().unwrap();
        assert!(reads > 10_000 && hits > 1_000, "reads {reads}, hits {hits}");
    }
    assert!(writes.load(Ordering::Relaxed) > 10_000);
}

const KILL_KEYS: u32 = 256;
const KILL_VALUE: usize = 1024;

/// The writer process: opens region `name` as another process would and rewrites every record
/// forever, until it is killed. Returning (or panicking) means it failed: it exits with 1.
fn write_forever(name: &str) -> ! {
    let _ = std::panic::catch_unwind(|| {
        let region = Region::open(name, &rules_layout(KILL_VALUE, u64::from(KILL_KEYS))).unwrap();
        let mut table = region.table("rules").unwrap();
        let start = std::process::id();
        for counter in start.. {
            for k in 0..KILL_KEYS {
                table
                    .insert(
                        &u64::from(k).to_le_bytes(),
                        &pattern(k, counter, KILL_VALUE),
                    )
                    .unwrap();
            }
        }
    });
    // SAFETY: ends this forked child at once, without running the test harness's exit path.
    unsafe { libc::_exit(1) }
}

/// A child process running [`write_forever`], forked from this test so that it needs nothing
/// from outside (no re-run of the test binary, no environment). Killed and reaped on drop.
struct WriterChild {
    pid: libc::pid_t,
    reaped: bool,
}

impl WriterChild {
    fn spawn(name: &str) -> WriterChild {
        // SAFETY: the child runs only `write_forever`, which ends in `_exit`; glibc's fork keeps
        // malloc usable in the child of a threaded process, and the child touches no lock that
        // another of this process's threads could hold (the region is its own mapping).
        match unsafe { libc::fork() } {
            -1 => panic!("fork: {}", std::io::Error::last_os_error()),
            0 => write_forever(name),
            pid => WriterChild { pid, reaped: false },
        }
    }

    fn id(&self) -> u32 {
        self.pid as u32
    }

    fn kill(&self) {
        // SAFETY: plain syscall on our own, not yet reaped, child.
        let rc = unsafe { libc::kill(self.pid, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Reaps the child and checks that SIGKILL ended it, i.e. that it was still writing and had
    /// not failed on its own.
    fn wait_killed(&mut self) {
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is a valid place for its status.
        let rc = unsafe { libc::waitpid(self.pid, &mut status, 0) };
        assert_eq!(rc, self.pid, "waitpid: {}", std::io::Error::last_os_error());
        self.reaped = true;
        assert!(
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL,
            "the writer ended on its own (wait status {status:#x}), not by SIGKILL"
        );
    }
}

impl Drop for WriterChild {
    fn drop(&mut self) {
        if !self.reaped {
            // SAFETY: our own child; a failing test must not leave it writing.
            unsafe {
                libc::kill(self.pid, libc::SIGKILL);
                libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            }
        }
    }
}

const ROUNDS: u64 = 12;

/// Waits until `child` no longer runs (it is then a zombie until reaped).
fn child_gone(child: &WriterChild) {
    let stat = format!("/proc/{}/stat", child.id());
    let started = Instant::now();
    while std::fs::read_to_string(&stat).is_ok_and(|s| !s.contains(") Z")) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the child survived SIGKILL"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_writer_killed_mid_update_leaves_no_torn_record_and_a_new_writer_repairs() {
    let name = Name::new("sigkill");
    let layout = rules_layout(KILL_VALUE, u64::from(KILL_KEYS));
    let region = Region::create(&name.0, &layout).unwrap();
    let mut table = region.table("rules").unwrap();
    for k in 0..KILL_KEYS {
        table
            .insert(&u64::from(k).to_le_bytes(), &pattern(k, 0, KILL_VALUE))
            .unwrap();
    }
    table.release_writer();
    let stop = Arc::new(AtomicBool::new(false));
    let readers = spawn_readers(&region, KILL_KEYS, KILL_VALUE, &stop);
    let mut value = vec![0u8; KILL_VALUE];
    let mut cut_short = 0;
    for round in 0..ROUNDS {
        let mut child = WriterChild::spawn(&name.0);
        // Let it take the lock and write for a while, then kill it at an arbitrary point.
        let started = Instant::now();
        while table.insert(&[0; 8], &pattern(0, 0, KILL_VALUE)).is_ok() {
            table.release_writer();
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the child never wrote"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50 + 17 * round));
        child.kill();
        child_gone(&child);
        cut_short += usize::from(table.write_in_progress());
        // Take over before reaping: a zombie counts as dead.
        let started = Instant::now();
        loop {
            match table.insert(&[0; 8], &pattern(0, 1, KILL_VALUE)) {
                Ok(_) => break,
                Err(ShmError::Locked { .. }) if started.elapsed() < Duration::from_secs(5) => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("round {round}: {e}"),
            }
        }
        child.wait_killed();
        // Repaired: every record is present and whole, none left locked.
        for k in 0..KILL_KEYS {
            assert!(
                table.get_into(&u64::from(k).to_le_bytes(), &mut value),
                "key {k} lost"
            );
            check(k, &value).unwrap();
        }
        assert_eq!(table.len(), u64::from(KILL_KEYS));
        // The new writer continues.
        for k in 0..KILL_KEYS {
            table
                .insert(&u64::from(k).to_le_bytes(), &pattern(k, 7, KILL_VALUE))
                .unwrap();
        }
        table.release_writer();
    }
    stop.store(true, Ordering::Relaxed);
    // Every record is always present, even the one a killed writer left odd (readers then read
    // the journal's copy), and no value is ever torn (checked by the readers).
    for reader in readers {
        let (reads, hits) = reader.join().unwrap().unwrap();
        assert_eq!(
            reads, hits,
            "a reader missed a record that was always present"
        );
    }
    assert!(cut_short > 0, "no kill landed mid-write in {ROUNDS} rounds");
}

#[test]
fn a_million_entries() {
    let name = Name::new("million");
    let n = 1_000_000u64;
    let region = Region::create(&name.0, &Layout::new().table("rules", 8, 16, n)).unwrap();
    let mut table = region.table("rules").unwrap();
    for k in 0..n {
        let key = k.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes();
        table
            .insert(&key, &[k.to_le_bytes(), (!k).to_le_bytes()].concat())
            .unwrap();
    }
    assert_eq!(table.len(), n);
    let mut value = [0u8; 16];
    for k in 0..n {
        let key = k.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes();
        assert!(table.get_into(&key, &mut value), "key {k}");
        assert_eq!(value[..8], k.to_le_bytes());
    }
    assert!(!table.get_into(&u64::MAX.to_le_bytes(), &mut value));
}

#[test]
fn cells_are_updated_by_every_handle_and_thread() {
    let name = Name::new("cells");
    let layout = Layout::new()
        .table("rules", 8, 8, 4)
        .cells("counters", 8, 16);
    let region = Region::create(&name.0, &layout).unwrap();
    let other = Region::open(&name.0, &layout).unwrap();
    let (a, b) = (
        region.cells("counters").unwrap(),
        other.cells("counters").unwrap(),
    );
    assert_eq!((a.words(), a.capacity()), (8, 16));
    assert!(a.cell(16).is_none());
    let per_thread = 100_000u64;
    std::thread::scope(|s| {
        for cells in [&a, &b, &a, &b] {
            s.spawn(move || {
                for i in 0..per_thread {
                    let cell = cells.cell(i % 16).unwrap();
                    cell[0].fetch_add(1, Ordering::Relaxed);
                    cell[7].fetch_add(i, Ordering::Relaxed);
                }
            });
        }
    });
    let total: u64 = (0..16)
        .map(|i| b.cell(i).unwrap()[0].load(Ordering::Relaxed))
        .sum();
    let sum: u64 = (0..16)
        .map(|i| a.cell(i).unwrap()[7].load(Ordering::Relaxed))
        .sum();
    assert_eq!(total, 4 * per_thread);
    assert_eq!(sum, 4 * (0..per_thread).sum::<u64>());
    // Cells of another size are another layout, named in the error.
    let err = Region::open(
        &name.0,
        &Layout::new()
            .table("rules", 8, 8, 4)
            .cells("counters", 4, 16),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cells \"counters\": cell size 64 in the region, 32 in the layout"),
        "{err}"
    );
    assert!(matches!(
        region.cells("rules"),
        Err(ShmError::UnknownObject { kind: "cells", .. })
    ));
    assert!(matches!(
        Region::create(&format!("{}-bad", name.0), &Layout::new().cells("c", 0, 1)),
        Err(ShmError::InvalidLayout(_))
    ));
}

#[test]
fn read_with_reads_a_record_in_place() {
    let name = Name::new("read-with");
    let region = Region::create(&name.0, &rules_layout(24, 16)).unwrap();
    let mut table = region.table("rules").unwrap();
    table
        .insert(&5u64.to_le_bytes(), &pattern(5, 3, 24))
        .unwrap();
    let reader = region.table("rules").unwrap();
    // Only the second word is loaded.
    let second = reader.read_with(&5u64.to_le_bytes(), |words| {
        assert_eq!(words.len(), 3);
        words[1].load(Ordering::Relaxed)
    });
    assert_eq!(
        second,
        Some(u64::from_le_bytes(pattern(5, 3, 8).try_into().unwrap()))
    );
    assert_eq!(reader.read_with(&6u64.to_le_bytes(), |_| ()), None);
    assert_eq!(reader.read_with(&[1, 2], |_| ()), None);
    table.remove(&5u64.to_le_bytes()).unwrap();
    assert_eq!(reader.read_with(&5u64.to_le_bytes(), |_| ()), None);
}
