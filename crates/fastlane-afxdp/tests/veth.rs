//! AF_XDP over veth pairs in network namespaces, with a hand-written macswap loop. Needs root.

mod common;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use common::{test_frame, test_seq, Bed, Generator};
use fastlane_afxdp::{open_thread, AfXdpError, AfXdpThread, XskSocketInfo};
use fastlane_core::config::{AfXdpConfig, BindMode, BusyPollConfig};
use fastlane_core::netns::run_in;
use fastlane_core::{Batch, DropReason, PortId, QueueCounters, QueueSpec, ThreadIo, Verdict};

/// Small rings and UMEM, so that a test's frames go round the UMEM several times.
fn small_config(bind_mode: BindMode) -> AfXdpConfig {
    AfXdpConfig {
        bind_mode,
        rx_ring_size: 128,
        tx_ring_size: 128,
        fill_ring_size: 128,
        completion_ring_size: 128,
        umem_frames: 256,
        frame_size: 2048,
        ..AfXdpConfig::default()
    }
}

/// Opens the thread's sockets on the forwarder ends of `bed` (queue 0 of pair `n` is port `n`)
/// and registers them in the pairs' XSKMAPs.
fn open_on(
    bed: &mut Bed,
    cfg: &AfXdpConfig,
    pairs: &[usize],
) -> Result<(AfXdpThread, Vec<XskSocketInfo>), AfXdpError> {
    let queues: Vec<QueueSpec> = pairs
        .iter()
        .map(|&n| QueueSpec {
            port: n as PortId,
            interface: bed.pairs[n].fwd.clone(),
            queue: 0,
        })
        .collect();
    let (io, infos) = run_in(Some(&bed.fwd.0), || open_thread(cfg, &queues, 32))
        .expect("enter forwarder namespace")?;
    for (&n, info) in pairs.iter().zip(&infos) {
        bed.pairs[n].register_socket(info.queue, info.fd);
    }
    Ok((io, infos))
}

fn swap_macs(frame: &mut [u8]) {
    if frame.len() >= 12 {
        let (dst, rest) = frame.split_at_mut(6);
        dst.swap_with_slice(&mut rest[..6]);
    }
}

/// The data plane under test: receive → macswap → verdict → complete, until `stop`.
fn forward(
    io: &mut AfXdpThread,
    counters: &[QueueCounters],
    stop: &AtomicBool,
    verdict: impl Fn(PortId, u32) -> Verdict,
) {
    let mut batch = Batch::with_capacity(32);
    while !stop.load(Relaxed) {
        let mut received = false;
        for source in 0..io.queues().len() {
            if io.receive(source, &mut batch, &counters[source]) == 0 {
                continue;
            }
            received = true;
            let port = batch.port();
            for mut p in batch.iter_mut() {
                let v = test_seq(p.data()).map_or(Verdict::Drop(DropReason::Malformed), |seq| {
                    verdict(port, seq)
                });
                swap_macs(p.data_mut());
                p.set_verdict(v);
            }
            io.complete(source, &mut batch, counters);
        }
        if !received {
            io.idle(&[]);
        }
    }
}

/// Sets the flag when dropped, also when a failed assertion unwinds.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Relaxed);
    }
}

/// Runs `work` while a data-plane thread forwards with `forward`; stops that thread afterwards,
/// even when `work` panics.
fn while_forwarding(
    io: &mut AfXdpThread,
    counters: &[QueueCounters],
    verdict: impl Fn(PortId, u32) -> Verdict + Send,
    work: impl FnOnce(),
) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let plane = s.spawn(|| forward(io, counters, &stop, verdict));
        let stopper = StopOnDrop(&stop);
        work();
        drop(stopper);
        plane.join().expect("data-plane thread");
    });
}

/// Calls `idle` until every transmitted frame has been reaped, then checks that the UMEM's
/// frames are all accounted for.
fn assert_no_frame_lost(io: &mut AfXdpThread) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while io.frame_census().transmitting > 0 && Instant::now() < deadline {
        io.idle(&[]);
    }
    let census = io.frame_census();
    assert_eq!(census.transmitting, 0, "{census:?}");
    assert_eq!(census.accounted(), census.umem_frames, "{census:?}");
}

/// Sends `frames` in bursts from `from` and collects, on `to`, the ones `returns` says come back;
/// checks each returned frame is the sent one with its MACs swapped.
fn exchange(from: &Generator, to: &Generator, frames: &[Vec<u8>], returns: impl Fn(u32) -> bool) {
    for burst in frames.chunks(16) {
        let mut expected: Vec<&Vec<u8>> = Vec::new();
        for f in burst {
            from.send(f);
            if returns(test_seq(f).unwrap()) {
                expected.push(f);
            }
        }
        for _ in 0..expected.len() {
            let got = to
                .recv_test_frame(Duration::from_secs(3))
                .expect("a forwarded frame within 3 s");
            let seq = test_seq(&got).unwrap();
            let sent = expected
                .iter()
                .find(|f| test_seq(f) == Some(seq))
                .unwrap_or_else(|| panic!("frame {seq} should not have come back"));
            let mut swapped = sent.to_vec();
            swap_macs(&mut swapped);
            assert_eq!(got, swapped, "frame {seq}");
        }
    }
    assert!(
        to.recv_test_frame(Duration::from_millis(200)).is_none(),
        "an extra frame came back"
    );
}

fn verdict_by_seq(seq: u32) -> Verdict {
    match seq % 8 {
        0..=3 => Verdict::Transmit,
        4 => Verdict::Drop(DropReason::Processor),
        5 => Verdict::Pending,
        6 => Verdict::Kernel,
        _ => Verdict::TransmitOn(5),
    }
}

#[test]
fn macswap_in_copy_mode_counts_every_verdict_exactly() {
    let mut bed = Bed::new('m', 1);
    let cfg = small_config(BindMode::Copy);
    let (mut io, infos) = open_on(&mut bed, &cfg, &[0]).expect("open AF_XDP socket");
    assert!(!infos[0].zero_copy);
    let gen = bed.generator(0);
    let (gen_mac, fwd_mac) = (bed.pairs[0].gen_mac, bed.pairs[0].fwd_mac);
    let frames: Vec<Vec<u8>> = (0..2000u32)
        .map(|seq| test_frame(&fwd_mac, &gen_mac, seq, 60 + (seq as usize * 37) % 1400))
        .collect();

    let counters = [QueueCounters::default()];
    while_forwarding(
        &mut io,
        &counters,
        |_, seq| verdict_by_seq(seq),
        || {
            exchange(&gen, &gen, &frames, |seq| seq % 8 < 4);
            // Statistics are readable while the data plane runs.
            let stats = infos[0].stats.read().expect("XDP_STATISTICS");
            assert_eq!(
                stats.rx_invalid_descs + stats.tx_invalid_descs,
                0,
                "{stats:?}"
            );
        },
    );

    let c = &counters[0];
    let bytes = |keep: &dyn Fn(u32) -> bool| -> u64 {
        frames
            .iter()
            .filter(|f| keep(test_seq(f).unwrap()))
            .map(|f| f.len() as u64)
            .sum()
    };
    assert_eq!(c.rx_packets.get(), 2000);
    assert_eq!(c.rx_bytes.get(), bytes(&|_| true));
    assert!((1..=2000).contains(&c.rx_batches.get()));
    assert_eq!(c.tx_packets.get(), 1000);
    assert_eq!(c.tx_bytes.get(), bytes(&|seq| seq % 8 < 4));
    assert_eq!(c.dropped(DropReason::Processor), 250);
    assert_eq!(c.dropped(DropReason::NoVerdict), 250);
    // Kernel verdicts: the runtime copied them to the slow path; the backend only frees them.
    assert_eq!(c.dropped(DropReason::NoSlowPath), 0);
    assert_eq!(c.dropped(DropReason::NoSuchPort), 250);
    assert_eq!(c.dropped(DropReason::TxRingFull), 0);
    assert_eq!(c.dropped(DropReason::Malformed), 0);
    assert_no_frame_lost(&mut io);

    let stats = infos[0].stats.read().expect("XDP_STATISTICS");
    assert_eq!(stats.rx_dropped, 0, "{stats:?}");
    assert_eq!(stats.rx_ring_full, 0, "{stats:?}");
    assert_eq!(
        stats.rx_invalid_descs + stats.tx_invalid_descs,
        0,
        "{stats:?}"
    );
}

#[test]
fn auto_falls_back_to_copy_and_zero_copy_is_refused() {
    let mut bed = Bed::new('b', 1);
    let err = open_on(&mut bed, &small_config(BindMode::ZeroCopy), &[0])
        .expect_err("veth has no AF_XDP zero-copy");
    assert!(matches!(err, AfXdpError::ZeroCopyRefused { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("zero-copy refused") && text.contains(&bed.pairs[0].fwd),
        "{text}"
    );

    // Auto, without need_wakeup and with busy polling: the other idle and kick paths.
    let cfg = AfXdpConfig {
        need_wakeup: false,
        busy_poll: Some(BusyPollConfig {
            timeout_us: 20,
            budget: 64,
            prefer: true,
        }),
        ..small_config(BindMode::Auto)
    };
    let (mut io, infos) = open_on(&mut bed, &cfg, &[0]).expect("auto bind");
    assert!(!infos[0].zero_copy, "veth cannot be zero-copy");
    let gen = bed.generator(0);
    let (gen_mac, fwd_mac) = (bed.pairs[0].gen_mac, bed.pairs[0].fwd_mac);
    let frames: Vec<Vec<u8>> = (0..600u32)
        .map(|seq| test_frame(&fwd_mac, &gen_mac, seq, 64))
        .collect();
    let counters = [QueueCounters::default()];
    while_forwarding(
        &mut io,
        &counters,
        |_, _| Verdict::Transmit,
        || exchange(&gen, &gen, &frames, |_| true),
    );
    assert_eq!(counters[0].rx_packets.get(), 600);
    assert_eq!(counters[0].tx_packets.get(), 600);
    assert_eq!(counters[0].tx_bytes.get(), 600 * 64);
    assert_no_frame_lost(&mut io);
}

#[test]
fn transmit_on_another_port_of_the_thread_shares_the_umem() {
    let mut bed = Bed::new('t', 2);
    let (mut io, infos) =
        open_on(&mut bed, &small_config(BindMode::Copy), &[0, 1]).expect("open two sockets");
    assert_eq!((infos[0].port, infos[1].port), (0, 1));
    let gens = [bed.generator(0), bed.generator(1)];
    let frames = |n: usize| -> Vec<Vec<u8>> {
        let p = &bed.pairs[n];
        (0..500u32)
            .map(|seq| test_frame(&p.fwd_mac, &p.gen_mac, seq, 100 + seq as usize % 900))
            .collect()
    };
    let (frames0, frames1) = (frames(0), frames(1));
    let counters = [QueueCounters::default(), QueueCounters::default()];
    // Each port's frames leave through the other port.
    while_forwarding(
        &mut io,
        &counters,
        |port, _| Verdict::TransmitOn(1 - port),
        || {
            exchange(&gens[0], &gens[1], &frames0, |_| true);
            exchange(&gens[1], &gens[0], &frames1, |_| true);
        },
    );
    let sum = |f: &[Vec<u8>]| f.iter().map(|f| f.len() as u64).sum::<u64>();
    for (port, (rx, tx)) in [(&frames0, &frames1), (&frames1, &frames0)]
        .into_iter()
        .enumerate()
    {
        let c = &counters[port];
        assert_eq!(c.rx_packets.get(), 500, "port {port}");
        assert_eq!(c.rx_bytes.get(), sum(rx), "port {port}");
        assert_eq!(c.tx_packets.get(), 500, "port {port}");
        assert_eq!(c.tx_bytes.get(), sum(tx), "port {port}");
        assert!(
            DropReason::ALL.iter().all(|&r| c.dropped(r) == 0),
            "port {port}"
        );
    }
    assert_no_frame_lost(&mut io);
}

#[test]
fn statistics_count_frames_dropped_on_a_full_rx_ring() {
    let mut bed = Bed::new('s', 1);
    let cfg = AfXdpConfig {
        rx_ring_size: 32,
        ..small_config(BindMode::Copy)
    };
    let (mut io, infos) = open_on(&mut bed, &cfg, &[0]).expect("open AF_XDP socket");
    let gen = bed.generator(0);
    let p = &bed.pairs[0];
    for seq in 0..100 {
        gen.send(&test_frame(&p.fwd_mac, &p.gen_mac, seq, 64));
        if seq % 16 == 15 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    std::thread::sleep(Duration::from_millis(50));
    // Read from another thread: the reader is Send and keeps the socket alive.
    let reader = infos[0].stats.clone();
    let stats = std::thread::spawn(move || reader.read())
        .join()
        .unwrap()
        .expect("XDP_STATISTICS");
    assert_eq!(stats.rx_ring_full, 100 - 32, "{stats:?}");
    assert_eq!(stats.rx_dropped, 0, "{stats:?}");

    // The ring holds the first 32 frames; nothing else was lost.
    let counters = [QueueCounters::default()];
    let mut batch = Batch::with_capacity(64);
    let n = io.receive(0, &mut batch, &counters[0]);
    assert_eq!(n, 32);
    let seqs: Vec<u32> = batch
        .slots()
        .iter()
        .filter_map(|s| test_seq(s.data()))
        .collect();
    assert_eq!(seqs, (0..32).collect::<Vec<_>>());
    io.complete(0, &mut batch, &counters);
    assert_eq!(counters[0].dropped(DropReason::NoVerdict), 32);
    assert_no_frame_lost(&mut io);

    drop(io);
    assert!(
        infos[0].stats.read().is_ok(),
        "reader outlives the thread object"
    );
}

#[test]
fn slow_path_frames_are_copied_out_and_idle_wakes_on_extra_descriptors() {
    let mut bed = Bed::new('c', 1);
    // A fill ring as large as the UMEM: a batch of frames must still be kept back for copies.
    let cfg = AfXdpConfig {
        fill_ring_size: 256,
        ..small_config(BindMode::Copy)
    };
    let (mut io, _infos) = open_on(&mut bed, &cfg, &[0]).expect("open AF_XDP socket");
    let gen = bed.generator(0);
    let p = &bed.pairs[0];
    // From the forwarder's kernel towards the generator; the last one fits no UMEM frame.
    let mut frames: Vec<Vec<u8>> = (0..100u32)
        .map(|seq| test_frame(&p.gen_mac, &p.fwd_mac, seq, 60 + seq as usize * 13))
        .collect();
    frames.insert(50, test_frame(&p.gen_mac, &p.fwd_mac, 1000, 3000));
    let views: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let counters = QueueCounters::default();
    // Offered a few at a time, as TAP read bursts come: each burst fits the frames kept back.
    let mut queued = 0;
    for burst in views.chunks(10) {
        queued += io.transmit_copies(0, burst, &counters);
        std::thread::sleep(Duration::from_millis(2));
    }
    // Every frame is counted once: queued, or dropped with its reason (the one too long).
    assert_eq!(queued, 100);
    assert_eq!(counters.dropped(DropReason::TxRingFull), 0);
    let fitting: Vec<&Vec<u8>> = frames.iter().filter(|f| f.len() <= 2048).collect();
    for &sent in &fitting {
        let got = gen
            .recv_test_frame(Duration::from_secs(3))
            .expect("a copied frame");
        assert_eq!(&got, sent);
    }
    assert_eq!(counters.tx_packets.get(), 100);
    assert_eq!(
        counters.tx_bytes.get(),
        fitting.iter().map(|f| f.len() as u64).sum::<u64>()
    );
    assert_eq!(counters.dropped(DropReason::NoBuffer), 1);
    assert_no_frame_lost(&mut io);

    // Offered all at once, more than the frames kept back: what does not fit is not queued,
    // and counted as dropped by reason, never left uncounted for the caller.
    let at_once = QueueCounters::default();
    let queued = io.transmit_copies(0, &views, &at_once);
    assert!(
        queued > 0 && queued < views.len(),
        "{queued} of {}",
        views.len()
    );
    assert_eq!(at_once.tx_packets.get(), queued as u64);
    let dropped = at_once.dropped(DropReason::NoBuffer) + at_once.dropped(DropReason::TxRingFull);
    assert_eq!(queued as u64 + dropped, views.len() as u64);
    assert_no_frame_lost(&mut io);

    // idle returns at once when an extra descriptor is readable, after ~100 ms otherwise.
    let mut pipe = [0; 2];
    // SAFETY: `pipe` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(pipe.as_mut_ptr()) }, 0);
    let started = Instant::now();
    io.idle(&[pipe[0]]);
    let quiet = started.elapsed();
    // SAFETY: writes one byte from a live buffer to the pipe we own.
    assert_eq!(unsafe { libc::write(pipe[1], b"x".as_ptr().cast(), 1) }, 1);
    let started = Instant::now();
    io.idle(&[pipe[0]]);
    let woken = started.elapsed();
    // SAFETY: closing the pipe we opened.
    unsafe {
        libc::close(pipe[0]);
        libc::close(pipe[1]);
    }
    assert!(quiet >= Duration::from_millis(90), "{quiet:?}");
    assert!(woken < Duration::from_millis(50), "{woken:?}");
}

#[test]
fn a_queue_reopens_at_once_but_never_binds_twice() {
    let mut bed = Bed::new('r', 1);
    let cfg = small_config(BindMode::Copy);
    // The kernel lets go of a closed socket's queue a little later: open retries meanwhile.
    for round in 0..5 {
        let opened = open_on(&mut bed, &cfg, &[0]);
        assert!(opened.is_ok(), "round {round}: {:?}", opened.err());
    }
    let _held = open_on(&mut bed, &cfg, &[0]).expect("first socket");
    let err = open_on(&mut bed, &cfg, &[0]).expect_err("the queue is taken");
    assert!(matches!(err, AfXdpError::Bind { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("another AF_XDP socket holds the queue"),
        "{err}"
    );
}

#[test]
fn a_full_tx_ring_drops_and_idle_sends_what_waited() {
    let mut bed = Bed::new('f', 2);
    let cfg = AfXdpConfig {
        umem_frames: 1024,
        ..small_config(BindMode::Copy)
    };
    let (mut io, _infos) = open_on(&mut bed, &cfg, &[0, 1]).expect("open two sockets");
    let gens = [bed.generator(0), bed.generator(1)];
    // A device that is down takes nothing from its TX ring.
    bed.set_forwarder_link(1, false);
    let p = &bed.pairs[0];
    let frames: Vec<Vec<u8>> = (0..200u32)
        .map(|seq| test_frame(&p.fwd_mac, &p.gen_mac, seq, 64))
        .collect();
    let counters = [QueueCounters::default(), QueueCounters::default()];
    let mut batch = Batch::with_capacity(32);
    for burst in frames.chunks(16) {
        for f in burst {
            gens[0].send(f);
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut got = 0;
        while got < burst.len() && Instant::now() < deadline {
            got += io.receive(0, &mut batch, &counters[0]);
            for mut p in batch.iter_mut() {
                p.set_verdict(Verdict::TransmitOn(1));
            }
            io.complete(0, &mut batch, &counters);
        }
        assert_eq!(got, burst.len(), "frames received");
    }
    assert_eq!(counters[0].rx_packets.get(), 200);
    assert_eq!(
        counters[1].tx_packets.get(),
        128,
        "a TX ring's worth queued"
    );
    assert_eq!(counters[0].dropped(DropReason::TxRingFull), 72);
    let census = io.frame_census();
    assert_eq!(census.transmitting, 128, "{census:?}");
    assert_eq!(census.accounted(), census.umem_frames, "{census:?}");

    // Once the device is up, idle gets the waiting frames out.
    bed.set_forwarder_link(1, true);
    let started = Instant::now();
    let mut arrived = 0;
    while arrived < 128 && started.elapsed() < Duration::from_secs(5) {
        io.idle(&[]);
        while gens[1].recv_test_frame(Duration::from_millis(10)).is_some() {
            arrived += 1;
        }
    }
    assert_eq!(arrived, 128);
    assert_no_frame_lost(&mut io);
}

#[test]
fn processors_can_prepend_into_the_frame_headroom() {
    let mut bed = Bed::new('h', 1);
    let cfg = AfXdpConfig {
        frame_headroom: 64,
        ..small_config(BindMode::Copy)
    };
    let (mut io, _infos) = open_on(&mut bed, &cfg, &[0]).expect("open AF_XDP socket");
    let gen = bed.generator(0);
    let p = &bed.pairs[0];
    let frames: Vec<Vec<u8>> = (0..20u32)
        .map(|seq| test_frame(&p.fwd_mac, &p.gen_mac, seq, 80))
        .collect();
    for f in &frames {
        gen.send(f);
    }
    let counters = [QueueCounters::default()];
    let mut batch = Batch::with_capacity(32);
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut received = 0;
    while received < frames.len() && Instant::now() < deadline {
        received += io.receive(0, &mut batch, &counters[0]);
        for mut p in batch.iter_mut() {
            // The kernel's XDP_PACKET_HEADROOM (256) plus the configured headroom.
            assert_eq!(p.headroom(), 256 + 64);
            let mut macs = [0u8; 12];
            macs.copy_from_slice(&p.data()[..12]);
            swap_macs(&mut macs);
            // A 4-byte tag between the addresses and the EtherType (local experimental type).
            let head = p.prepend(4).expect("headroom");
            head.copy_from_slice(&macs[..4]);
            let data = p.data_mut();
            data[4..12].copy_from_slice(&macs[4..]);
            data[12..16].copy_from_slice(&[0x88, 0xb5, 0x12, 0x34]);
            p.set_verdict(Verdict::Transmit);
        }
        io.complete(0, &mut batch, &counters);
    }
    assert_eq!(received, frames.len());
    for _ in 0..frames.len() {
        let got = gen
            .recv_matching(Duration::from_secs(3), |f| {
                f.len() > 16 && f[12..14] == [0x88, 0xb5]
            })
            .expect("a tagged frame");
        let seq = test_seq(&got[4..]).expect("the payload, 4 bytes further on");
        let mut expected = frames[seq as usize].clone();
        swap_macs(&mut expected);
        expected.splice(12..12, [0x88, 0xb5, 0x12, 0x34]);
        assert_eq!(got, expected);
    }
    assert_eq!(counters[0].tx_bytes.get(), 20 * 84);
    assert_no_frame_lost(&mut io);
}
