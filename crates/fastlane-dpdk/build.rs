//! Builds `libfastlane_dpdk.so` (the C shim over DPDK's inline functions) and the Rust view of
//! `struct rte_mbuf`, both from Debian's libdpdk-dev found with pkg-config. Without libdpdk-dev
//! (or libclang) the crate still builds, and `Dpdk::start` reports that DPDK support is missing.
//!
//! A cross build never uses the build machine's DPDK (its flags, such as `-march=corei7`, and its
//! libraries are for the host): it needs the target's DPDK named by `PKG_CONFIG_LIBDIR_<target>`
//! (the target's pkgconfig directory, `<target>` with `_` for `-`) and, for an unpacked sysroot,
//! `PKG_CONFIG_SYSROOT_DIR_<target>`; without them the crate builds without DPDK support.

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
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let host = std::env::var("HOST").expect("cargo sets HOST");
    let dpdk = if target == host {
        Ok(DpdkPkgConfig::Host)
    } else {
        cross_pkg_config(&target)
    };
    match dpdk.and_then(|dpdk| build(&out, &dpdk)) {
        Ok(shim) => {
            println!("cargo::rustc-cfg=fastlane_dpdk_shim");
            println!("cargo::rustc-env=FASTLANE_DPDK_SHIM={}", shim.display());
            println!("cargo::metadata=shim={}", shim.display());
        }
        Err(why) => println!("cargo::warning=fastlane-dpdk built without DPDK support: {why}"),
    }
}

/// Where pkg-config looks for `libdpdk.pc`.
enum DpdkPkgConfig {
    /// The build machine's own search path (a native build).
    Host,
    /// Only the target's pkgconfig directory, with the sysroot its paths are relative to.
    Target {
        libdir: String,
        sysroot: Option<String>,
    },
}

/// The target's DPDK for a cross build, from `PKG_CONFIG_LIBDIR_<target>` and
/// `PKG_CONFIG_SYSROOT_DIR_<target>`.
fn cross_pkg_config(target: &str) -> Result<DpdkPkgConfig, String> {
    let suffix = target.replace('-', "_");
    let libdir_var = format!("PKG_CONFIG_LIBDIR_{suffix}");
    let sysroot_var = format!("PKG_CONFIG_SYSROOT_DIR_{suffix}");
    println!("cargo::rerun-if-env-changed={libdir_var}");
    println!("cargo::rerun-if-env-changed={sysroot_var}");
    let libdir = std::env::var(&libdir_var).map_err(|_| {
        format!(
            "cross-compiling for {target} and {libdir_var} does not name the target's DPDK \
             pkgconfig directory (the build machine's DPDK is for another target)"
        )
    })?;
    Ok(DpdkPkgConfig::Target {
        libdir,
        sysroot: std::env::var(&sysroot_var).ok(),
    })
}

/// Builds the shim and the bindings; returns where the shim is.
fn build(out: &Path, dpdk: &DpdkPkgConfig) -> Result<PathBuf, String> {
    let cflags = pkg_config(dpdk, "--cflags")?;
    let libs = pkg_config(dpdk, "--libs")?;

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
    let mut link = compiler.to_command();
    link.arg("-shared")
        .arg(format!("-Wl,-soname,{SHIM_NAME}"))
        .arg("-Wl,--no-undefined");
    if let DpdkPkgConfig::Target {
        sysroot: Some(sysroot),
        ..
    } = dpdk
    {
        // The target's linker scripts (libbsd.so) name libraries by absolute paths, which the
        // linker looks up in its sysroot.
        link.arg(format!("-Wl,--sysroot={sysroot}"));
    }
    let status = link
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

fn pkg_config(dpdk: &DpdkPkgConfig, what: &str) -> Result<Vec<String>, String> {
    let mut command = Command::new("pkg-config");
    command.args([what, "libdpdk"]);
    if let DpdkPkgConfig::Target { libdir, sysroot } = dpdk {
        command
            .env_remove("PKG_CONFIG_PATH")
            .env("PKG_CONFIG_LIBDIR", libdir);
        match sysroot {
            Some(sysroot) => command.env("PKG_CONFIG_SYSROOT_DIR", sysroot),
            None => command.env_remove("PKG_CONFIG_SYSROOT_DIR"),
        };
    }
    let output = command.output().map_err(|e| {
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
