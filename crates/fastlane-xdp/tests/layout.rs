//! `struct fl_filter` (src/fl_filter.h, what the BPF programs read) against `FilterTables` (what
//! the loader writes into their map): clang compiles the header for the BPF target with static
//! assertions of the Rust type's size and field offsets, so a change on either side fails here.

use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::{Command, Output};

use fastlane_core::classify::{Prefix4, Prefix6, PREFIXES_MAX};
use fastlane_core::FilterTables;

/// The Rust side: `(C expression, value)` for the size and every field's offset.
fn rust_layout() -> Vec<(&'static str, usize)> {
    vec![
        ("sizeof(struct fl_filter)", size_of::<FilterTables>()),
        (
            "offsetof(struct fl_filter, udp_ports)",
            offset_of!(FilterTables, udp_ports),
        ),
        (
            "offsetof(struct fl_filter, tcp_ports)",
            offset_of!(FilterTables, tcp_ports),
        ),
        (
            "offsetof(struct fl_filter, ether_types)",
            offset_of!(FilterTables, ether_types),
        ),
        (
            "offsetof(struct fl_filter, ip_protocols)",
            offset_of!(FilterTables, ip_protocols),
        ),
        (
            "offsetof(struct fl_filter, prefixes_v4_len)",
            offset_of!(FilterTables, prefixes_v4_len),
        ),
        (
            "offsetof(struct fl_filter, prefixes_v6_len)",
            offset_of!(FilterTables, prefixes_v6_len),
        ),
        (
            "offsetof(struct fl_filter, prefixes_v4)",
            offset_of!(FilterTables, prefixes_v4),
        ),
        (
            "offsetof(struct fl_filter, prefixes_v6)",
            offset_of!(FilterTables, prefixes_v6),
        ),
        ("sizeof(struct fl_prefix4)", size_of::<Prefix4>()),
        (
            "offsetof(struct fl_prefix4, mask)",
            offset_of!(Prefix4, mask),
        ),
        ("sizeof(struct fl_prefix6)", size_of::<Prefix6>()),
        (
            "offsetof(struct fl_prefix6, mask)",
            offset_of!(Prefix6, mask),
        ),
        ("FL_PREFIXES_MAX", PREFIXES_MAX),
    ]
}

/// Compiles, for the BPF target as build.rs does, a file that includes the header and asserts
/// each `(expression, value)`.
fn compile_assertions(name: &str, layout: &[(&str, usize)]) -> Output {
    let mut source = String::from("#include <stddef.h>\n#include \"fl_filter.h\"\n");
    for (expression, value) in layout {
        source +=
            &format!("_Static_assert({expression} == {value}, \"{expression} is not {value}\");\n");
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join(format!("fl_filter_{name}.c"));
    std::fs::write(&file, source).expect("write the C file");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    Command::new(clang)
        .args(["-target", "bpf", "-fsyntax-only", "-Wall", "-Werror"])
        .arg(format!("-I{}/src", env!("CARGO_MANIFEST_DIR")))
        .arg(format!(
            "-I/usr/include/{}-linux-gnu",
            std::env::consts::ARCH
        ))
        .arg(&file)
        .output()
        .expect("run clang (it builds this crate's programs too)")
}

#[test]
fn struct_fl_filter_in_the_c_header_has_the_size_and_offsets_of_filter_tables() {
    let output = compile_assertions("rust", &rust_layout());
    assert!(
        output.status.success(),
        "the C header and FilterTables disagree:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_layout_check_fails_when_the_two_sides_differ() {
    for (i, (expression, _)) in rust_layout().iter().enumerate() {
        let mut wrong = rust_layout();
        wrong[i].1 += 8;
        let output = compile_assertions(&format!("wrong{i}"), &wrong);
        assert!(
            !output.status.success(),
            "{expression} off by 8 went unnoticed"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("{expression} is not")), "{stderr}");
    }
}
