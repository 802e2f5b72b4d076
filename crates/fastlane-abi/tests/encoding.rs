//! The verdict encoding is part of the ABI: these values are what plugins already built carry.
//! A failing assertion here means a change that breaks every built plugin.

use fastlane_abi::{DropReason, PluginReason, RawVerdict, Verdict, ABI_VERSION};

/// Every built-in drop reason's code, fixed forever. A new reason is appended here with the
/// next free code; none of the lines above it changes.
const BUILT_IN_CODES: [(DropReason, u16, &str); DropReason::COUNT] = [
    (DropReason::Processor, 0, "processor"),
    (DropReason::NoVerdict, 1, "no_verdict"),
    (DropReason::Malformed, 2, "malformed"),
    (DropReason::TxRingFull, 3, "tx_ring_full"),
    (DropReason::NoSuchPort, 4, "no_such_port"),
    (DropReason::NoSlowPath, 5, "no_slow_path"),
    (DropReason::NoBuffer, 6, "no_buffer"),
    (DropReason::SlowPathFull, 7, "slow_path_full"),
    (DropReason::WorkerBusy, 8, "worker_busy"),
    (DropReason::JsBacklog, 9, "js_backlog"),
    (DropReason::Plugin, 10, "plugin"),
];

#[test]
fn the_abi_version_is_the_one_these_encodings_belong_to() {
    assert_eq!(ABI_VERSION, 3);
}

#[test]
fn each_built_in_drop_reason_keeps_its_code_and_its_encoding() {
    for (i, (reason, code, name)) in BUILT_IN_CODES.into_iter().enumerate() {
        assert_eq!(DropReason::ALL[i], reason, "ALL stays in code order");
        assert_eq!(reason.code(), code, "{reason:?}");
        assert_eq!(reason.name(), name, "{reason:?}");
        assert_eq!(DropReason::from_code(code), Some(reason));
        let raw = Verdict::Drop(reason).to_raw();
        assert_eq!(raw, RawVerdict(5 | u32::from(code) << 16), "{reason:?}");
        assert_eq!(raw.verdict(), Verdict::Drop(reason));
    }
    assert_eq!(DropReason::from_code(DropReason::COUNT as u16), None);
}

#[test]
fn every_verdict_kind_keeps_its_encoding_and_round_trips() {
    let fixed = [
        (Verdict::Pending, 0x0000_0000),
        (Verdict::Transmit, 0x0000_0001),
        (Verdict::TransmitOn(0), 0x0000_0002),
        (Verdict::TransmitOn(0xbeef), 0xbeef_0002),
        (Verdict::Kernel, 0x0000_0003),
        (Verdict::Taken, 0x0000_0004),
        (Verdict::Drop(DropReason::Malformed), 0x0002_0005),
    ];
    for (verdict, raw) in fixed {
        assert_eq!(verdict.to_raw(), RawVerdict(raw), "{verdict:?}");
        assert_eq!(RawVerdict(raw).verdict(), verdict);
        assert_eq!(
            RawVerdict(raw).is_final(),
            verdict.is_final(),
            "{verdict:?}"
        );
    }
    assert_eq!(
        RawVerdict::plugin_drop(PluginReason(3)),
        RawVerdict(0x0003_0006)
    );
}

#[test]
fn a_plugin_reason_is_final_and_reads_as_a_plugin_drop() {
    let raw = RawVerdict::plugin_drop(PluginReason(7));
    assert!(raw.is_final());
    assert_eq!(raw.plugin_reason(), Some(PluginReason(7)));
    assert_eq!(raw.verdict(), Verdict::Drop(DropReason::Plugin));
    assert_eq!(
        Verdict::Drop(DropReason::Plugin).to_raw().plugin_reason(),
        None
    );
    assert_eq!(RawVerdict::TRANSMIT.plugin_reason(), None);
}

#[test]
fn codes_from_a_newer_host_or_a_broken_plugin_read_as_something_safe() {
    // A drop code this build does not know is still a drop.
    assert_eq!(
        RawVerdict(5 | 999 << 16).verdict(),
        Verdict::Drop(DropReason::Processor)
    );
    // An unknown kind is no verdict at all: the chain's end drops it as `no_verdict`.
    assert_eq!(RawVerdict(0x77).verdict(), Verdict::Pending);
}
