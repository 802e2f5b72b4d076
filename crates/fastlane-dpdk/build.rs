//! Builds `libfastlane_dpdk.so` (the C shim over DPDK's inline functions) and the Rust view of
//! `struct rte_mbuf`, both from Debian's libdpdk-dev found with pkg-config. Without libdpdk-dev
//! (or libclang) the crate still builds, and `Dpdk::start` reports that DPDK support is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

const SHIM_NAME: &str = "libfastlane_dpdk.so";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(fastlane_dpdk_shim)");
    println!("cargo::rerun-if-changed=shim/fastlane_dpdk.c");
    println!("cargo::rerun-if-changed=shim/mbuf.h");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_LIBDIR");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    match build(&out) {
        Ok(shim) => {
            println!("cargo::rustc-cfg=fastlane_dpdk_shim");
            println!("cargo::rustc-env=FASTLANE_DPDK_SHIM={}", shim.display());
            println!("cargo::metadata=shim={}", shim.display());
        }
        Err(why) => println!("cargo::warning=fastlane-dpdk built without DPDK support: {why}"),
    }
}

/// Builds the shim and the bindings; returns where the shim is.
fn build(out: &Path) -> Result<PathBuf, String> {
    let cflags = pkg_config("--cflags")?;
    let libs = pkg_config("--libs")?;

    let mut shim_build = cc::Build::new();
    shim_build
        .file("shim/fastlane_dpdk.c")
        .pic(true)
        .flag("-fvisibility=hidden")
        .warnings(true)
        .extra_warnings(true)
        .cargo_metadata(false);
    for flag in &cflags {
        shim_build.flag(flag);
    }
    let objects = shim_build
        .try_compile_intermediates()
        .map_err(|e| format!("compiling shim/fastlane_dpdk.c: {e}"))?;
    let shim = out.join(SHIM_NAME);
    let compiler = cc::Build::new()
        .cargo_metadata(false)
        .try_get_compiler()
        .map_err(|e| format!("no C compiler: {e}"))?;
    let status = compiler
        .to_command()
        .arg("-shared")
        .arg(format!("-Wl,-soname,{SHIM_NAME}"))
        .arg("-Wl,--no-undefined")
        .arg("-o")
        .arg(&shim)
        .args(&objects)
        .args(&libs)
        .status()
        .map_err(|e| format!("running the linker: {e}"))?;
    if !status.success() {
        return Err(format!("linking {SHIM_NAME} failed ({status})"));
    }

    // Bindgen panics when it cannot load libclang; that is a missing build tool, not a bug.
    let bindings = std::panic::catch_unwind(|| {
        bindgen::Builder::default()
            .header("shim/mbuf.h")
            .clang_args(&cflags)
            .allowlist_type("rte_mbuf")
            .opaque_type("rte_mempool")
            .opaque_type("rte_mbuf_ext_shared_info")
            .derive_debug(false)
            .derive_default(false)
            .layout_tests(true)
            .generate()
    })
    .map_err(|_| "bindgen could not load libclang: install libclang1-14 (Debian)".to_string())?
    .map_err(|e| format!("bindgen on rte_mbuf_core.h: {e}"))?;
    bindings
        .write_to_file(out.join("mbuf.rs"))
        .map_err(|e| format!("writing mbuf.rs: {e}"))?;

    // The npm packaging and `cargo run` find the shim beside the binaries of this profile
    // (OUT_DIR is target/<profile>/build/<crate>-<hash>/out).
    if let Some(profile_dir) = out.ancestors().nth(3) {
        let beside = profile_dir.join(SHIM_NAME);
        std::fs::copy(&shim, &beside)
            .map_err(|e| format!("copying {SHIM_NAME} to {}: {e}", beside.display()))?;
    }
    Ok(shim)
}

fn pkg_config(what: &str) -> Result<Vec<String>, String> {
    let output = Command::new("pkg-config")
        .args([what, "libdpdk"])
        .output()
        .map_err(|e| {
            format!("pkg-config not runnable ({e}): install pkg-config and libdpdk-dev")
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "pkg-config {what} libdpdk failed ({}): install libdpdk-dev (Debian)",
            stderr.lines().next().unwrap_or_default().trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect())
}
