//! Compiles the test traffic programs with clang so that the crate embeds the object and needs no
//! compiler at run time. `CLANG` overrides the compiler; `BPF_CFLAGS` adds flags.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const SOURCE: &str = "src/testbed.bpf.c";

fn main() {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-env-changed=CLANG");
    println!("cargo:rerun-if-env-changed=BPF_CFLAGS");

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let object = out.join("testbed.bpf.o");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    // The host's headers, not the target's: BPF objects are the same for every target.
    let host = env::var("HOST").expect("cargo sets HOST");

    let mut cmd = Command::new(&clang);
    cmd.args(["-O2", "-g", "-target", "bpf", "-Wall", "-Werror"])
        .arg(format!("-I/usr/include/{}", host_multiarch(&host)))
        .args(
            env::var("BPF_CFLAGS")
                .unwrap_or_default()
                .split_whitespace(),
        )
        .arg("-c")
        .arg(SOURCE)
        .arg("-o")
        .arg(&object);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {clang} (install clang and libbpf-dev): {e}"));
    assert!(
        status.success(),
        "{clang} failed to compile {SOURCE}: {status}"
    );
}

/// The Debian multiarch directory holding `asm/` for the build host's triple: the triple without
/// its vendor field (`x86_64-unknown-linux-gnu` -> `x86_64-linux-gnu`).
fn host_multiarch(host: &str) -> String {
    let parts: Vec<&str> = host.split('-').collect();
    match parts.as_slice() {
        [arch, _vendor, os, env] => format!("{arch}-{os}-{env}"),
        _ => host.to_string(),
    }
}
