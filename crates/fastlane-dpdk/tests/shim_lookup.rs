//! How `libfastlane_dpdk.so` is found, and what a missing piece is reported as.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use fastlane_dpdk::{dpdk_library, DpdkError};

const CHILD: &str = "FASTLANE_DPDK_LOOKUP_CHILD";

/// One test at a time: one sets FASTLANE_DPDK_LIB, and a process forked by one while the other
/// writes an executable would keep that file busy (ETXTBSY) when it is run.
static SERIAL: Mutex<()> = Mutex::new(());
const SHIM: &str = "libfastlane_dpdk.so";

/// The shim the build made; a build without DPDK support fails here at run time rather than
/// failing to compile.
#[allow(clippy::option_env_unwrap)]
fn built_shim() -> &'static str {
    option_env!("FASTLANE_DPDK_SHIM").expect("fastlane-dpdk was built without DPDK support")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("fld-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cc(args: &[&str]) {
    let status = Command::new("cc").args(args).status().expect("run cc");
    assert!(status.success(), "cc {args:?}");
}

/// A child that finds the shim beside its own executable.
#[test]
fn the_shim_beside_the_binary_comes_first() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if std::env::var_os(CHILD).is_some() {
        let exe = std::env::current_exe().expect("current_exe");
        let beside = exe.parent().unwrap().join(SHIM);
        assert_eq!(dpdk_library().expect("load"), beside.display().to_string());
        return;
    }
    let dir = TempDir::new("beside");
    let exe = dir.0.join("lookup");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).expect("copy the test binary");
    std::fs::copy(built_shim(), dir.0.join(SHIM)).expect("copy the shim");
    let out = Command::new(&exe)
        .args(["the_shim_beside_the_binary_comes_first", "--exact"])
        .env(CHILD, "1")
        .env("FASTLANE_DPDK_LIB", "/nonexistent")
        .output()
        .expect("run the copy");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// FASTLANE_DPDK_LIB, with each way it can go wrong named (a failed load is not cached, so one
/// process can try them in turn).
#[test]
fn fastlane_dpdk_lib_and_what_a_missing_piece_says() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("env");

    // A shim whose DPDK library is missing.
    let fake_rte = dir.0.join("rte");
    std::fs::create_dir_all(&fake_rte).unwrap();
    let empty_c = dir.0.join("empty.c");
    std::fs::write(&empty_c, "int fastlane_dpdk_probe(void) { return 0; }\n").unwrap();
    let rte_lib = fake_rte.join("librte_fastlane_test.so.23");
    cc(&[
        "-shared",
        "-fPIC",
        "-o",
        rte_lib.to_str().unwrap(),
        empty_c.to_str().unwrap(),
    ]);
    let broken = dir.0.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    let broken_shim = broken.join(SHIM);
    cc(&[
        "-shared",
        "-fPIC",
        "-o",
        broken_shim.to_str().unwrap(),
        empty_c.to_str().unwrap(),
        "-Wl,--no-as-needed",
        &format!("-L{}", fake_rte.display()),
        "-l:librte_fastlane_test.so.23",
    ]);
    std::fs::remove_file(&rte_lib).unwrap();
    std::env::set_var("FASTLANE_DPDK_LIB", &broken);
    let e = dpdk_library().expect_err("a missing DPDK library");
    assert!(matches!(e, DpdkError::DpdkLibrariesMissing { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("librte_fastlane_test.so.23"), "{text}");
    assert!(text.contains("apt install dpdk"), "{text}");

    // Not a library at all.
    let junk = dir.0.join("junk.so");
    std::fs::write(&junk, "not an ELF file").unwrap();
    std::env::set_var("FASTLANE_DPDK_LIB", &junk);
    let e = dpdk_library().expect_err("junk");
    assert!(matches!(e, DpdkError::ShimLoad { .. }), "{e}");
    assert!(e.to_string().contains(junk.to_str().unwrap()), "{e}");

    // A library without our functions.
    std::env::set_var("FASTLANE_DPDK_LIB", rte_lib.with_file_name("other.so"));
    cc(&[
        "-shared",
        "-fPIC",
        "-o",
        dir.0.join("rte/other.so").to_str().unwrap(),
        empty_c.to_str().unwrap(),
    ]);
    let e = dpdk_library().expect_err("a library of something else");
    assert!(matches!(e, DpdkError::ShimSymbol { .. }), "{e}");

    // The real one.
    let good = dir.0.join("good");
    std::fs::create_dir_all(&good).unwrap();
    std::fs::copy(built_shim(), good.join(SHIM)).unwrap();
    std::env::set_var("FASTLANE_DPDK_LIB", good.join(SHIM));
    assert_eq!(
        dpdk_library().expect("the real shim"),
        good.join(SHIM).display().to_string()
    );
    assert!(Path::new(&dpdk_library().unwrap()).starts_with(&good));
}
