//! Compiles the XDP program with clang into OUT_DIR; lib.rs embeds the object, so the binary
//! needs neither clang nor libbpf at run time.

use std::env;
use std::path::PathBuf;
use std::process::Command;

const SOURCE: &str = "src/fastlane.bpf.c";
/// Included by SOURCE: the filter's layout, shared with the layout test.
const FILTER_HEADER: &str = "src/fl_filter.h";

/// Debian's multiarch directory of the build host, where `asm/types.h` (included by linux/bpf.h)
/// lives. The BPF object does not depend on the target the binary is built for: the kernel's
/// BPF-facing types are the same on every architecture, so the host's headers serve every
/// cross build and each one embeds the same object.
fn host_multiarch(host: &str) -> String {
    let arch = host.split('-').next().unwrap_or(host);
    match arch {
        "i586" | "i686" => "i386-linux-gnu".to_string(),
        "arm" | "armv7" => "arm-linux-gnueabihf".to_string(),
        "powerpc64le" => "powerpc64le-linux-gnu".to_string(),
        _ => format!("{arch}-linux-gnu"),
    }
}

fn main() {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-changed={FILTER_HEADER}");
    println!("cargo:rerun-if-env-changed=CLANG");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let host = env::var("HOST").expect("cargo sets HOST");
    let clang = env::var("CLANG").unwrap_or_else(|_| "clang".to_string());
    let object = out.join("fastlane.bpf.o");

    let output = Command::new(&clang)
        .args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf"])
        .arg(format!("-I/usr/include/{}", host_multiarch(&host)))
        .arg("-c")
        .arg(SOURCE)
        .arg("-o")
        .arg(&object)
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => panic!(
            "fastlane-xdp: cannot run `{clang}` to compile {SOURCE}: {e}\n\
             Install clang and the libbpf headers (Debian: apt-get install clang libbpf-dev), \
             or point the CLANG environment variable at a clang binary."
        ),
    };
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let hint = if stderr.contains("bpf/bpf_helpers.h") {
            "\nThe libbpf headers are missing (Debian: apt-get install libbpf-dev)."
        } else if stderr.contains("asm/") {
            "\nThe kernel's asm headers are missing (Debian: apt-get install linux-libc-dev)."
        } else {
            ""
        };
        panic!("fastlane-xdp: `{clang}` failed to compile {SOURCE}:\n{stderr}{hint}");
    }
}
