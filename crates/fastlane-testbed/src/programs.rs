//! The embedded object (`testbed.bpf.c`, compiled by build.rs) and attaching its programs.

use aya::maps::{Array, MapData, MapError};
use aya::programs::{Xdp, XdpFlags};
use aya::{Btf, Ebpf, EbpfLoader};
use std::os::fd::{AsFd, OwnedFd};

use crate::TestbedError;

static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/testbed.bpf.o"));

pub const GEN: &str = "fl_gen";
pub const SINK: &str = "fl_sink";
pub const REFLECT: &str = "fl_reflect";
pub const PASS: &str = "fl_pass";
pub const GEN_FRAMES: &str = "fl_gen_frames";
pub const GEN_FRAME_COUNT: &str = "fl_gen_frame_count";
pub const GEN_COUNTS: &str = "fl_gen_counts";
pub const SINK_PORT: &str = "fl_sink_port";
pub const SINK_COUNTS: &str = "fl_sink_counts";
/// Bytes of the frame `fl_gen` writes on every run (`FL_HEADER_LEN`).
pub const GEN_HEADER_LEN: usize = 128;

/// A fresh copy of every map and program of the object (programs not yet loaded).
pub fn open() -> Result<Ebpf, TestbedError> {
    Ebpf::load(OBJECT).map_err(|e| TestbedError::Load(Box::new(e)))
}

/// Like [`open`], with `fl_gen` set to cycle over `frames` frames (`GEN_FRAMES` sized to them).
pub fn open_generator(frames: u32) -> Result<Ebpf, TestbedError> {
    EbpfLoader::new()
        .btf(Btf::from_sys_fs().ok().as_ref())
        .set_max_entries(GEN_FRAMES, frames)
        .set_global(GEN_FRAME_COUNT, &frames, true)
        .load(OBJECT)
        .map_err(|e| TestbedError::Load(Box::new(e)))
}

/// Loads XDP program `name` into the kernel.
pub fn load<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
    interface: &str,
) -> Result<&'a mut Xdp, TestbedError> {
    let xdp: &mut Xdp = ebpf
        .program_mut(name)
        .and_then(|p| p.try_into().ok())
        .ok_or(TestbedError::Missing {
            kind: "XDP program",
            name,
        })?;
    xdp.load().map_err(|source| TestbedError::Program {
        action: "load",
        program: name,
        interface: interface.to_string(),
        source: Box::new(source),
    })?;
    Ok(xdp)
}

/// Attaches loaded program `name` natively (driver mode) to `interface` in `netns`. The
/// attachment is a bpf_link (kernel >= 5.9): it ends when the program is dropped, whichever
/// thread or namespace drops it.
pub fn attach_native(
    ebpf: &mut Ebpf,
    name: &'static str,
    netns: Option<&str>,
    interface: &str,
) -> Result<(), TestbedError> {
    let xdp = load(ebpf, name, interface)?;
    fastlane_core::netns::run_in(netns, || xdp.attach(interface, XdpFlags::DRV_MODE))?
        .map(drop)
        .map_err(|source| TestbedError::Program {
            action: "attach (native)",
            program: name,
            interface: interface.to_string(),
            source: Box::new(source),
        })
}

/// Writes entry 0 of array map `name`.
pub fn set<V: aya::Pod>(ebpf: &mut Ebpf, name: &'static str, value: V) -> Result<(), TestbedError> {
    set_all(ebpf, name, [value])
}

/// Writes `values` into entries 0, 1, … of array map `name`.
pub fn set_all<V: aya::Pod>(
    ebpf: &mut Ebpf,
    name: &'static str,
    values: impl IntoIterator<Item = V>,
) -> Result<(), TestbedError> {
    let map_err = |source| TestbedError::Map {
        map: name,
        source: Box::new(source),
    };
    let mut array: Array<&mut MapData, V> = ebpf
        .map_mut(name)
        .ok_or(MapError::InvalidName {
            name: name.to_string(),
        })
        .and_then(Array::try_from)
        .map_err(map_err)?;
    for (index, value) in (0u32..).zip(values) {
        array.set(index, value, 0).map_err(map_err)?;
    }
    Ok(())
}

/// A descriptor of per-CPU array `name` that outlives borrows of `ebpf`, for reading it from
/// any thread.
pub fn percpu_array_fd(ebpf: &Ebpf, name: &'static str) -> Result<OwnedFd, TestbedError> {
    let Some(aya::maps::Map::PerCpuArray(data)) = ebpf.map(name) else {
        return Err(TestbedError::Missing {
            kind: "per-CPU array",
            name,
        });
    };
    data.fd()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|source| TestbedError::MapFd { map: name, source })
}
