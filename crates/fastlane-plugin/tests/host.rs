//! Builds real plugin libraries with cargo (the ACL example and the fixtures under
//! `tests/fixtures`) and loads them as the data plane would.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, OnceLock};

use fastlane_core::config::{ProcessorObject, ProcessorSpec};
use fastlane_core::wire::testing::{ipv4_udp, ipv6_udp, SRC_MAC};
use fastlane_core::{Batch, DropReason, Emit, Pipeline, Processor, Verdict};
use fastlane_plugin::host::{
    PluginError, PluginFactory, PluginLibrary, PluginProcessor, SharedMemoryProvider,
};
use serde_json::json;

/// One build at a time: builds of one crate with different features write the same artifact,
/// which each test copies under a name of its own before the next build replaces it.
static BUILDS: Mutex<()> = Mutex::new(());

/// Builds the cdylib crate at `crate_dir` (relative to this crate) with `features` into a
/// target dir of the tests' own and returns a copy of the library named `copy_as`.
fn build(crate_dir: &str, lib_name: &str, features: &[&str], copy_as: &str) -> PathBuf {
    let _one_at_a_time = BUILDS.lock().unwrap_or_else(|e| e.into_inner());
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugins");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(crate_dir)
        .join("Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(out.join("target"))
        .arg(format!("--features={}", features.join(",")))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "building {}:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let built = out.join("target/debug").join(format!("lib{lib_name}.so"));
    let copy = out.join(copy_as);
    std::fs::copy(&built, &copy).expect("copy the built library");
    copy
}

fn acl_library() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| build("../../examples/acl-plugin", "acl_plugin", &[], "libacl.so"))
}

fn faulty_library() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        build(
            "tests/fixtures/faulty-plugin",
            "faulty_plugin",
            &[],
            "libfaulty.so",
        )
    })
}

/// Frames with headroom in front, and a batch of slots over them.
struct Frames(Vec<Vec<u8>>);

const HEADROOM: usize = 32;

impl Frames {
    fn new(frames: Vec<Vec<u8>>) -> Self {
        Frames(
            frames
                .into_iter()
                .map(|f| [vec![0u8; HEADROOM], f, vec![0u8; 16]].concat())
                .collect(),
        )
    }

    fn batch(&mut self) -> Batch {
        let mut batch = Batch::with_capacity(self.0.len());
        let slots = batch.begin_fill(1, 0);
        for (slot, f) in slots.iter_mut().zip(self.0.iter_mut()) {
            let len = (f.len() - HEADROOM - 16) as u32;
            // SAFETY: the frames outlive the batch in each test.
            unsafe { slot.set(f.as_mut_ptr(), f.len() as u32, HEADROOM as u32, len, 0) };
        }
        batch.set_len(self.0.len());
        batch
    }
}

fn verdicts(batch: &Batch) -> Vec<Verdict> {
    batch.slots().iter().map(|s| s.verdict()).collect()
}

/// `ipv4_udp` turned into TCP (the destination port sits at the same offset).
fn ipv4_tcp(dst_port: u16) -> Vec<u8> {
    let mut f = ipv4_udp(dst_port, 20);
    f[14 + 9] = 6;
    f
}

fn arp() -> Vec<u8> {
    let mut f = ipv4_udp(22, 10);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    f
}

/// The ACL drops for reasons of its own, which the host counts by name and then records as a
/// plugin's drop.
const DENIED: Verdict = Verdict::Drop(DropReason::Plugin);

#[test]
fn acl_plugin_drops_listed_ports_leaves_other_packets_alone_and_counts_per_instance() {
    let library = PluginLibrary::load(acl_library(), None).unwrap();
    assert_eq!(library.name(), "acl-plugin");
    assert_eq!(library.counter_names(), ["allowed", "denied"]);
    assert_eq!(
        library.drop_reason_names(),
        ["denied_port", "denied_source"]
    );
    let config = json!({ "deny_dst_ports": [22, 23], "deny_src_prefixes": ["192.168.0.0/16"] });
    let mut first = library.instantiate(&config).unwrap();
    let mut second = library.instantiate(&config).unwrap();

    let mut frames = Frames::new(vec![
        ipv4_udp(22, 10),
        ipv4_udp(53, 10),
        ipv6_udp(23, 10),
        ipv6_udp(8080, 10),
        ipv4_tcp(23),
        ipv4_tcp(443),
        arp(),
        vec![0u8; 8],
        ipv4_udp(22, 4),
    ]);
    let mut batch = frames.batch();
    batch.slots_mut()[2].set_verdict(Verdict::Transmit);
    batch.slots_mut()[8].set_verdict(Verdict::Kernel);
    first.process(&mut batch);
    use Verdict::{Kernel, Pending, Transmit};
    assert_eq!(
        verdicts(&batch),
        [DENIED, Pending, DENIED, Pending, DENIED, Pending, Pending, Pending, Kernel]
    );
    let counters = first.counters();
    assert_eq!(counters.values(), [("allowed", 3), ("denied", 3)]);
    assert_eq!(counters.drops(), [("denied_port", 3), ("denied_source", 0)]);

    // Another thread's instance counts on its own.
    let mut batch = frames.batch();
    second.process(&mut batch);
    assert_eq!(second.counters().values(), [("allowed", 3), ("denied", 4)]);
    assert_eq!(
        second.counters().drops(),
        [("denied_port", 4), ("denied_source", 0)]
    );
    assert_eq!(counters.drops(), [("denied_port", 3), ("denied_source", 0)]);
    assert_eq!(counters.get("denied"), Some(3));
    assert_eq!(verdicts(&batch)[2], DENIED);
    assert_ne!(verdicts(&batch)[2], Transmit);
}

#[test]
fn acl_plugin_drops_by_source_prefix_and_refuses_a_bad_config() {
    let library = PluginLibrary::load(acl_library(), None).unwrap();
    let mut acl = library
        .instantiate(&json!({ "deny_src_prefixes": ["10.0.0.0/30"] }))
        .unwrap();
    // ipv4_udp comes from 10.0.0.1; the IPv6 frame has no IPv4 source to match.
    let mut frames = Frames::new(vec![ipv4_udp(53, 1), ipv6_udp(53, 1)]);
    let mut batch = frames.batch();
    acl.process(&mut batch);
    assert_eq!(verdicts(&batch), [DENIED, Verdict::Pending]);
    assert_eq!(
        acl.counters().drops(),
        [("denied_port", 0), ("denied_source", 1)]
    );

    let narrower = library.instantiate(&json!({ "deny_src_prefixes": ["10.0.0.2/31"] }));
    let mut narrower = narrower.unwrap();
    let mut batch = frames.batch();
    narrower.process(&mut batch);
    assert_eq!(verdicts(&batch), [Verdict::Pending, Verdict::Pending]);

    let err = library
        .instantiate(&json!({ "deny_dst_ports": [70000] }))
        .unwrap_err();
    assert!(matches!(err, PluginError::Refused { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("plugin acl-plugin"), "{message}");
    assert!(message.contains("70000 is not a port number"), "{message}");
}

#[test]
fn the_factory_resolves_paths_against_the_config_dir_and_chains_before_macswap() {
    let path = acl_library();
    let factory = PluginFactory::new(path.parent().map(Path::to_path_buf));
    let pipeline: Vec<ProcessorSpec> = serde_json::from_value(json!([
        { "type": "plugin", "path": "./libacl.so", "config": { "deny_dst_ports": [22] } },
        "macswap"
    ]))
    .unwrap();
    let mut threads: Vec<Pipeline> = (0..2)
        .map(|_| Pipeline::build(&pipeline, &factory).unwrap())
        .collect();
    let mut frames = Frames::new(vec![ipv4_udp(22, 10), ipv4_udp(9000, 10)]);
    let mut batch = frames.batch();
    threads[1].processor.process(&mut batch);
    assert_eq!(verdicts(&batch), [DENIED, Verdict::Transmit]);
    assert_eq!(&batch.slots()[1].data()[..6], &SRC_MAC);

    // One library for every thread and every spelling of its path.
    let dir = path.parent().unwrap();
    let spelled_otherwise = dir
        .join("..")
        .join(dir.file_name().unwrap())
        .join("libacl.so");
    assert!(
        factory.library(Path::new("libacl.so")).unwrap()
            == factory.library(&spelled_otherwise).unwrap()
    );
    assert!(
        factory.library(Path::new("libacl.so")).unwrap()
            != PluginLibrary::load(path, None).unwrap()
    );

    let stages = factory.counters();
    assert_eq!(stages.len(), 2);
    assert!(stages
        .iter()
        .all(|s| s.stage == 0 && s.plugin == "acl-plugin"));
    assert_eq!(stages[0].counters.values(), [("allowed", 0), ("denied", 0)]);
    assert_eq!(stages[1].counters.values(), [("allowed", 1), ("denied", 1)]);
    assert_eq!(
        stages[1].counters.drops(),
        [("denied_port", 1), ("denied_source", 0)]
    );

    // A new run (a data plane started again) counts only its own instances, from zero.
    factory.begin_run();
    assert!(factory.counters().is_empty());
    let mut restarted = Pipeline::build(&pipeline, &factory).unwrap();
    let mut batch = frames.batch();
    restarted.processor.process(&mut batch);
    let stages = factory.counters();
    assert_eq!(stages.len(), 1);
    assert_eq!(stages[0].counters.values(), [("allowed", 1), ("denied", 1)]);

    // Not a plugin and no fallback: the stage is refused, by path.
    let js: Vec<ProcessorSpec> =
        serde_json::from_value(json!(["count", { "type": "js" }])).unwrap();
    let err = Pipeline::build(&js, &factory).unwrap_err();
    assert_eq!(err.stage, 1);
    let missing = ProcessorObject::Plugin {
        path: "./libnothing.so".into(),
        config: json!(null),
    };
    let err = fastlane_core::processor::ProcessorFactory::create(&factory, 0, &missing)
        .map(|_| ())
        .unwrap_err();
    assert!(err.contains("libnothing.so does not exist"), "{err}");
}

#[test]
fn a_plugin_of_another_abi_version_is_refused_naming_both_versions_and_the_path() {
    let path = build(
        "tests/fixtures/foreign-abi",
        "foreign_abi",
        &["entry"],
        "libfuture.so",
    );
    let err = PluginLibrary::load(&path, None).unwrap_err();
    assert!(
        matches!(err, PluginError::AbiMismatch { found: 4242, expected, .. } if expected == fastlane_plugin::ABI_VERSION),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("ABI version 4242"), "{message}");
    assert!(
        message.contains(&format!("speaks version {}", fastlane_plugin::ABI_VERSION)),
        "{message}"
    );
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[test]
fn a_plugin_built_against_the_older_abi_is_refused_naming_both_versions_and_the_path() {
    let path = build(
        "tests/fixtures/foreign-abi",
        "foreign_abi",
        &["entry", "v1"],
        "libolder.so",
    );
    let err = PluginLibrary::load(&path, None).unwrap_err();
    assert!(
        matches!(
            err,
            PluginError::AbiMismatch {
                found: 1,
                expected: 3,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "{} was built for plugin ABI version 1, but this host speaks version 3",
            path.display()
        )),
        "{message}"
    );
}

#[test]
fn a_library_without_the_entry_point_is_not_a_plugin() {
    let path = build(
        "tests/fixtures/foreign-abi",
        "foreign_abi",
        &[],
        "libnoentry.so",
    );
    let err = PluginLibrary::load(&path, None).unwrap_err();
    assert!(matches!(err, PluginError::NoEntry { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("is not a Fastlane plugin: it does not export `fastlane_plugin_entry`"),
        "{message}"
    );
}

#[test]
fn a_missing_file_or_a_file_that_is_no_library_gives_a_clear_error() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let err = PluginLibrary::load(Path::new("libabsent.so"), Some(dir)).unwrap_err();
    assert!(matches!(err, PluginError::NotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "plugin library {} does not exist",
            dir.join("libabsent.so").display()
        )
    );
    let not_elf = dir.join("not-a-library.so");
    std::fs::write(&not_elf, b"hello").unwrap();
    let err = PluginLibrary::load(&not_elf, None).unwrap_err();
    assert!(matches!(err, PluginError::Load { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with("cannot load plugin library"),
        "{err}"
    );
}

#[test]
fn a_plugin_that_refuses_or_panics_while_starting_is_an_error_not_a_crash() {
    let library = PluginLibrary::load(faulty_library(), None).unwrap();
    let err = library
        .instantiate(&json!({ "refuse": "no thanks" }))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "plugin faulty-plugin ({}) refused its config: no thanks",
            faulty_library().display()
        )
    );
    let err = library
        .instantiate(&json!({ "panic_in": "new" }))
        .unwrap_err();
    assert!(matches!(err, PluginError::Panicked { .. }), "{err:?}");
    assert!(
        err.to_string()
            .ends_with("panicked while starting: faulty plugin told to panic in new"),
        "{err}"
    );
    // The library is still usable.
    assert!(library.instantiate(&json!({})).is_ok());
}

#[test]
fn a_panic_in_process_becomes_a_panic_of_the_host_thread_with_the_plugins_message() {
    let library = PluginLibrary::load(faulty_library(), None).unwrap();
    let mut faulty = library
        .instantiate(&json!({ "panic_in": "process" }))
        .unwrap();
    let mut frames = Frames::new(vec![ipv4_udp(1, 1), ipv4_udp(2, 1)]);
    let mut batch = frames.batch();
    // As the runtime's data-plane thread does: run the batch on a thread of its own and see it die.
    let panic = std::thread::scope(|s| s.spawn(|| faulty.process(&mut batch)).join().unwrap_err());
    let message = panic
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(message.starts_with("plugin faulty-plugin ("), "{message}");
    assert!(
        message.ends_with("panicked: faulty plugin told to panic on a batch of 2"),
        "{message}"
    );
    drop(faulty);
}

#[test]
fn packet_edits_verdicts_and_counters_cross_the_boundary() {
    let library = PluginLibrary::load(faulty_library(), None).unwrap();
    assert_eq!(library.counter_names(), ["seen", "released"]);
    let mut faulty: PluginProcessor = library.instantiate(&json!({ "prepend": 4 })).unwrap();
    let original = ipv4_udp(7, 3);
    let mut frames = Frames::new(vec![original.clone(), vec![1u8; 60]]);
    let mut batch = frames.batch();
    batch.slots_mut()[1].set_verdict(Verdict::Drop(DropReason::Malformed));
    faulty.process(&mut batch);
    let slot = &batch.slots()[0];
    assert_eq!(
        (slot.offset() as usize, slot.len() as usize),
        (HEADROOM - 4, original.len() + 3)
    );
    assert_eq!(&slot.data()[..4], &[0xee; 4]);
    assert_eq!(&slot.data()[4..], &original[..original.len() - 1]);
    assert_eq!(
        verdicts(&batch),
        [Verdict::Transmit, Verdict::Drop(DropReason::Malformed)]
    );
    assert_eq!(faulty.counters().get("seen"), Some(1));
}

/// An emitter that keeps what it is given and has room for `room` frames.
#[derive(Default)]
struct Kept {
    room: usize,
    frames: Vec<(u16, Vec<u8>)>,
}

impl Emit for Kept {
    fn transmit(&mut self, port: u16, frames: &[&[u8]]) -> usize {
        let n = frames.len().min(self.room - self.frames.len());
        self.frames
            .extend(frames[..n].iter().map(|f| (port, f.to_vec())));
        n
    }
}

#[test]
fn a_plugin_sends_the_frames_it_held_from_poll_in_order_and_hears_how_many_went() {
    let library = PluginLibrary::load(faulty_library(), None).unwrap();
    let mut faulty = library.instantiate(&json!({ "hold_for_port": 3 })).unwrap();
    // More than one chunk of the boundary's descriptors, to hold their order across chunks.
    let originals: Vec<Vec<u8>> = (0..40).map(|i| ipv4_udp(100 + i, 1)).collect();
    let mut frames = Frames::new(originals.clone());
    let mut batch = frames.batch();
    faulty.process(&mut batch);
    assert!(verdicts(&batch).iter().all(|v| *v == Verdict::Taken));
    let mut out = Kept {
        room: 38,
        ..Kept::default()
    };
    faulty.poll(&mut out);
    let sent: Vec<Vec<u8>> = out.frames.iter().map(|(_, f)| f.clone()).collect();
    assert_eq!(sent, originals[..38]);
    assert!(out.frames.iter().all(|(port, _)| *port == 3));
    assert_eq!(faulty.counters().get("released"), Some(38));
    faulty.poll(&mut out);
    assert_eq!(out.frames.len(), 38, "nothing left to send");
}

#[test]
fn a_panic_in_poll_becomes_a_panic_of_the_host_thread_with_the_plugins_message() {
    let library = PluginLibrary::load(faulty_library(), None).unwrap();
    let mut faulty = library.instantiate(&json!({ "panic_in": "poll" })).unwrap();
    let panic = std::thread::scope(|s| {
        s.spawn(|| faulty.poll(&mut Kept::default()))
            .join()
            .unwrap_err()
    });
    let message = panic.downcast_ref::<String>().expect("a formatted message");
    assert!(
        message.ends_with("panicked: faulty plugin told to panic in poll"),
        "{message}"
    );
}

/// Regions backed by host memory, by name.
#[derive(Debug)]
struct Regions(Vec<(String, Mutex<Box<[u8]>>)>);

impl SharedMemoryProvider for Regions {
    fn region(&self, name: &str) -> Option<(NonNull<u8>, usize)> {
        let (_, bytes) = self.0.iter().find(|(n, _)| n == name)?;
        let mut bytes = bytes.lock().unwrap();
        Some((NonNull::new(bytes.as_mut_ptr())?, bytes.len()))
    }
}

#[test]
fn a_plugin_opens_the_shared_memory_the_host_offers_by_name() {
    let regions = Arc::new(Regions(vec![(
        "ring".into(),
        Mutex::new(vec![0u8; 8].into()),
    )]));
    let provider: Arc<dyn SharedMemoryProvider> = regions.clone();
    let library = PluginLibrary::load(faulty_library(), None).unwrap();
    library
        .instantiate_with(
            &json!({ "shared_memory": "ring", "mark": 7 }),
            Some(&provider),
        )
        .unwrap();
    assert_eq!(regions.0[0].1.lock().unwrap()[0], 7);
    let err = library
        .instantiate_with(&json!({ "shared_memory": "other" }), Some(&provider))
        .unwrap_err();
    assert!(err.to_string().ends_with("no region \"other\""), "{err}");
    let err = library
        .instantiate(&json!({ "shared_memory": "ring" }))
        .unwrap_err();
    assert!(err.to_string().ends_with("no region \"ring\""), "{err}");
}

#[test]
fn metadata_set_by_one_plugin_stage_is_read_by_the_next_which_drops_for_its_named_reason() {
    let factory = PluginFactory::new(faulty_library().parent().map(Path::to_path_buf));
    let pipeline: Vec<ProcessorSpec> = serde_json::from_value(json!([
        { "type": "plugin", "path": "./libfaulty.so", "config": { "meta_from_first_byte": true } },
        { "type": "plugin", "path": "./libfaulty.so", "config": { "drop_if_meta": 2 } }
    ]))
    .unwrap();
    let mut pipeline = Pipeline::build(&pipeline, &factory).unwrap();
    let mut frames = Frames::new(vec![
        vec![1u8; 20],
        vec![2u8; 20],
        vec![3u8; 20],
        vec![2u8; 9],
    ]);
    for round in 1..=2u64 {
        let mut batch = frames.batch();
        pipeline.processor.process(&mut batch);
        let dropped = Verdict::Drop(DropReason::Plugin);
        assert_eq!(
            verdicts(&batch),
            [Verdict::Transmit, dropped, Verdict::Transmit, dropped]
        );
        assert_eq!(
            batch.slots().iter().map(|s| s.meta()).collect::<Vec<_>>(),
            [1, 2, 3, 2]
        );
        let stages = factory.counters();
        assert_eq!(stages[0].counters.drops(), [("meta_matched", 0)]);
        assert_eq!(stages[1].counters.drops(), [("meta_matched", 2 * round)]);
        assert_eq!(stages[1].counters.get("seen"), Some(4 * round));
    }
}

#[test]
fn a_drop_for_a_reason_the_plugin_does_not_declare_fails_its_thread_naming_the_reason() {
    let library = PluginLibrary::load(faulty_library(), None).unwrap();
    assert_eq!(library.drop_reason_names(), ["meta_matched"]);
    let mut faulty = library.instantiate(&json!({ "drop_for": 3 })).unwrap();
    let mut frames = Frames::new(vec![ipv4_udp(1, 1)]);
    let mut batch = frames.batch();
    let panic = std::thread::scope(|s| s.spawn(|| faulty.process(&mut batch)).join().unwrap_err());
    let message = panic
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(
        message.ends_with("dropped a packet for its reason 3, but it declares 1 drop reasons"),
        "{message}"
    );
    let mut declared = library.instantiate(&json!({ "drop_for": 0 })).unwrap();
    let mut batch = frames.batch();
    declared.process(&mut batch);
    assert_eq!(verdicts(&batch), [Verdict::Drop(DropReason::Plugin)]);
    assert_eq!(declared.counters().drops(), [("meta_matched", 1)]);
}

#[test]
fn a_plugin_links_neither_core_nor_serde() {
    let manifest =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/acl-plugin/Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "tree",
            "--edges",
            "normal,build",
            "--prefix",
            "none",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"fastlane-abi"), "{tree}");
    for banned in ["fastlane-core", "serde", "serde_json"] {
        assert!(
            !crates.contains(&banned),
            "{banned} in the plugin's tree:\n{tree}"
        );
    }
}
