//! What a region holds: its tables and channels, their sizes, where each lives, and the header at
//! offset 0 that lets a second process check it agrees before touching anything.

use crate::error::ShmError;

pub const MAX_NAME: usize = 32;
pub const MAX_KEY: usize = 64;
pub const MAX_VALUE: usize = 1024;
pub const MAX_MESSAGE: usize = 1024;
/// Bytes of one cell of an array of cells.
pub const MAX_CELL: usize = 1024;
/// Objects one header's directory holds.
pub const MAX_OBJECTS: usize = (HEADER_SIZE - DIRECTORY) / ENTRY_SIZE;

pub(crate) const MAGIC: u64 = u64::from_le_bytes(*b"FLSHMRGN");
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER_SIZE: usize = 4096;
// Header fields.
pub(crate) const H_MAGIC: usize = 0;
pub(crate) const H_VERSION: usize = 8;
pub(crate) const H_COUNT: usize = 12;
pub(crate) const H_HASH: usize = 16;
pub(crate) const H_SIZE: usize = 24;
const DIRECTORY: usize = 64;
const ENTRY_SIZE: usize = 64;
// Directory entry fields.
const E_KIND: usize = 0;
const E_NAME_LEN: usize = 4;
const E_NAME: usize = 8;
const E_KEY: usize = 40;
const E_VALUE: usize = 44;
const E_CAPACITY: usize = 48;
const E_OFFSET: usize = 56;

const OBJECT_ALIGN: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    Table,
    Channel,
    Cells,
}

impl ObjectKind {
    fn code(self) -> u32 {
        match self {
            ObjectKind::Table => 1,
            ObjectKind::Channel => 2,
            ObjectKind::Cells => 3,
        }
    }

    fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(ObjectKind::Table),
            2 => Some(ObjectKind::Channel),
            3 => Some(ObjectKind::Cells),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::Channel => "channel",
            ObjectKind::Cells => "cells",
        }
    }
}

/// One table, channel or array of cells. For a channel, `key_size` is the largest message and
/// `value_size` is 0; for cells, `key_size` is the bytes of one cell and `value_size` is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSpec {
    pub kind: ObjectKind,
    pub name: String,
    pub key_size: u32,
    pub value_size: u32,
    pub capacity: u64,
}

/// The tables and channels of a region, in order; both sides must declare the same one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    objects: Vec<ObjectSpec>,
}

impl Layout {
    pub fn new() -> Self {
        Layout::default()
    }

    /// Adds a hash table of at most `capacity` records of `key_size`-byte keys and
    /// `value_size`-byte values.
    pub fn table(mut self, name: &str, key_size: usize, value_size: usize, capacity: u64) -> Self {
        self.objects.push(ObjectSpec {
            kind: ObjectKind::Table,
            name: name.to_string(),
            key_size: key_size.try_into().unwrap_or(u32::MAX),
            value_size: value_size.try_into().unwrap_or(u32::MAX),
            capacity,
        });
        self
    }

    /// Adds a single-producer single-consumer ring of `capacity` messages of up to
    /// `message_size` bytes.
    pub fn channel(mut self, name: &str, message_size: usize, capacity: u64) -> Self {
        self.objects.push(ObjectSpec {
            kind: ObjectKind::Channel,
            name: name.to_string(),
            key_size: message_size.try_into().unwrap_or(u32::MAX),
            value_size: 0,
            capacity,
        });
        self
    }

    /// Adds an array of `capacity` cells of `words` atomic 64-bit words each, which every process
    /// may update (see [`crate::Cells`]).
    pub fn cells(mut self, name: &str, words: usize, capacity: u64) -> Self {
        self.objects.push(ObjectSpec {
            kind: ObjectKind::Cells,
            name: name.to_string(),
            key_size: words
                .checked_mul(8)
                .and_then(|b| b.try_into().ok())
                .unwrap_or(u32::MAX),
            value_size: 0,
            capacity,
        });
        self
    }

    pub fn objects(&self) -> &[ObjectSpec] {
        &self.objects
    }

    pub(crate) fn validate(&self) -> Result<(), ShmError> {
        let bad = |msg: String| Err(ShmError::InvalidLayout(msg));
        if self.objects.is_empty() {
            return bad("no tables or channels".into());
        }
        if self.objects.len() > MAX_OBJECTS {
            return bad(format!(
                "{} objects, at most {MAX_OBJECTS}",
                self.objects.len()
            ));
        }
        for (i, o) in self.objects.iter().enumerate() {
            let kind = o.kind.as_str();
            if o.name.is_empty() || o.name.len() > MAX_NAME {
                return bad(format!(
                    "{kind} name {:?} must be 1 to {MAX_NAME} bytes",
                    o.name
                ));
            }
            if self.objects[..i].iter().any(|p| p.name == o.name) {
                return bad(format!("two objects named {:?}", o.name));
            }
            if o.capacity == 0 || o.capacity > 1 << 32 {
                return bad(format!("{kind} {:?}: capacity must be 1 to 2^32", o.name));
            }
            match o.kind {
                ObjectKind::Table => {
                    if o.key_size == 0 || o.key_size as usize > MAX_KEY {
                        return bad(format!(
                            "table {:?}: key size must be 1 to {MAX_KEY}",
                            o.name
                        ));
                    }
                    if o.value_size == 0 || o.value_size as usize > MAX_VALUE {
                        return bad(format!(
                            "table {:?}: value size must be 1 to {MAX_VALUE}",
                            o.name
                        ));
                    }
                }
                ObjectKind::Channel => {
                    if o.key_size == 0 || o.key_size as usize > MAX_MESSAGE {
                        return bad(format!(
                            "channel {:?}: message size must be 1 to {MAX_MESSAGE}",
                            o.name
                        ));
                    }
                }
                ObjectKind::Cells => {
                    if o.key_size == 0 || o.key_size as usize > MAX_CELL || o.key_size % 8 != 0 {
                        return bad(format!(
                            "cells {:?}: a cell must be 1 to {} words",
                            o.name,
                            MAX_CELL / 8
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// FNV-1a over every object's kind, name, sizes and capacity.
    pub fn hash(&self) -> u64 {
        let mut h = Fnv::new();
        h.write(&VERSION.to_le_bytes());
        for o in &self.objects {
            h.write(&o.kind.code().to_le_bytes());
            h.write(&(o.name.len() as u32).to_le_bytes());
            h.write(o.name.as_bytes());
            h.write(&o.key_size.to_le_bytes());
            h.write(&o.value_size.to_le_bytes());
            h.write(&o.capacity.to_le_bytes());
        }
        h.0
    }

    /// The offset of every object and the region's total size.
    pub(crate) fn placement(&self) -> (Vec<usize>, usize) {
        let mut offsets = Vec::with_capacity(self.objects.len());
        let mut end = HEADER_SIZE;
        for o in &self.objects {
            offsets.push(end);
            let size = match o.kind {
                ObjectKind::Table => crate::table::Geometry::of(o).bytes(),
                ObjectKind::Channel => crate::channel::Geometry::of(o).bytes(),
                ObjectKind::Cells => crate::cells::Geometry::of(o).bytes(),
            };
            end = (end + size).next_multiple_of(OBJECT_ALIGN);
        }
        (offsets, end)
    }

    /// Writes the directory (everything but the magic) at the start of `header`.
    pub(crate) fn write_header(&self, map: &crate::mem::Mapping, offsets: &[usize], size: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        map.u32(H_VERSION).store(VERSION, Relaxed);
        map.u32(H_COUNT).store(self.objects.len() as u32, Relaxed);
        map.u64(H_HASH).store(self.hash(), Relaxed);
        map.u64(H_SIZE).store(size as u64, Relaxed);
        for (i, (o, offset)) in self.objects.iter().zip(offsets).enumerate() {
            let entry = DIRECTORY + i * ENTRY_SIZE;
            map.u32(entry + E_KIND).store(o.kind.code(), Relaxed);
            map.u32(entry + E_NAME_LEN)
                .store(o.name.len() as u32, Relaxed);
            crate::mem::store_bytes(map.words(entry + E_NAME, MAX_NAME / 8), o.name.as_bytes());
            map.u32(entry + E_KEY).store(o.key_size, Relaxed);
            map.u32(entry + E_VALUE).store(o.value_size, Relaxed);
            map.u64(entry + E_CAPACITY).store(o.capacity, Relaxed);
            map.u64(entry + E_OFFSET).store(*offset as u64, Relaxed);
        }
    }

    /// The objects a region's header declares, as far as they can be read.
    pub(crate) fn read_header(map: &crate::mem::Mapping) -> Vec<ObjectSpec> {
        use std::sync::atomic::Ordering::Relaxed;
        let count = (map.u32(H_COUNT).load(Relaxed) as usize).min(MAX_OBJECTS);
        (0..count)
            .map(|i| {
                let entry = DIRECTORY + i * ENTRY_SIZE;
                let mut name = [0u8; MAX_NAME];
                crate::mem::load_bytes(map.words(entry + E_NAME, MAX_NAME / 8), &mut name);
                let name_len = (map.u32(entry + E_NAME_LEN).load(Relaxed) as usize).min(MAX_NAME);
                ObjectSpec {
                    kind: ObjectKind::from_code(map.u32(entry + E_KIND).load(Relaxed))
                        .unwrap_or(ObjectKind::Table),
                    name: String::from_utf8_lossy(&name[..name_len]).into_owned(),
                    key_size: map.u32(entry + E_KEY).load(Relaxed),
                    value_size: map.u32(entry + E_VALUE).load(Relaxed),
                    capacity: map.u64(entry + E_CAPACITY).load(Relaxed),
                }
            })
            .collect()
    }

    /// Every way `found` (a region's directory) differs from this layout, in words.
    pub(crate) fn differences(&self, found: &[ObjectSpec]) -> String {
        let mut out = Vec::new();
        for o in &self.objects {
            match found.iter().find(|f| f.name == o.name) {
                None => out.push(format!(
                    "{} {:?} missing in the region",
                    o.kind.as_str(),
                    o.name
                )),
                Some(f) => {
                    let what = o.kind.as_str();
                    let (key, value) = match o.kind {
                        ObjectKind::Table => ("key size", "value size"),
                        ObjectKind::Channel => ("message size", "value size"),
                        ObjectKind::Cells => ("cell size", "value size"),
                    };
                    if f.kind != o.kind {
                        out.push(format!(
                            "{:?} is a {} in the region, a {what} in the layout",
                            o.name,
                            f.kind.as_str()
                        ));
                        continue;
                    }
                    let mut field = |name: &str, region: u64, layout: u64| {
                        if region != layout {
                            out.push(format!(
                                "{what} {:?}: {name} {region} in the region, {layout} in the layout",
                                o.name
                            ));
                        }
                    };
                    field(key, f.key_size.into(), o.key_size.into());
                    field(value, f.value_size.into(), o.value_size.into());
                    field("capacity", f.capacity, o.capacity);
                }
            }
        }
        for f in found {
            if !self.objects.iter().any(|o| o.name == f.name) {
                out.push(format!(
                    "{} {:?} in the region is not in the layout",
                    f.kind.as_str(),
                    f.name
                ));
            }
        }
        if out.is_empty() {
            out.push("objects are declared in a different order".into());
        }
        out.join("; ")
    }
}

struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}
