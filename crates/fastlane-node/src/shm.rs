//! `NativeSharedRegion`, `NativeShmTable`, `NativeShmChannel`, `NativeShmCells`: the slow path's
//! side of fastlane-shm. Tables come first in the layout, then channels, then arrays of cells,
//! each in the order given: a Rust process attaching to the same region must declare them in that
//! order.

use fastlane_shm::{Existing, Layout, Region, ShmError};
use std::sync::atomic::Ordering;

use napi::bindgen_prelude::{BigInt, BigUint64Array, Buffer};
use napi_derive::napi;

use crate::error::{BindingError, Code, Result};

fn shm_error(e: ShmError) -> napi::Error<Code> {
    BindingError::Shm(e).into()
}

/// A table of a shared region: fixed-size keys and values, fixed capacity.
#[napi(object)]
#[derive(Debug)]
pub struct ShmTableLayout {
    pub name: String,
    /// Bytes of every key, 1 to 64.
    pub key_size: u32,
    /// Bytes of every value, 1 to 1024.
    pub value_size: u32,
    /// Most records the table holds.
    pub capacity: f64,
}

/// A single-producer single-consumer channel of a shared region.
#[napi(object)]
#[derive(Debug)]
pub struct ShmChannelLayout {
    pub name: String,
    /// Largest message in bytes, 1 to 1024.
    pub message_size: u32,
    /// Messages the ring holds before `send` drops.
    pub capacity: f64,
}

/// An array of cells of atomic 64-bit words that every process may update.
#[napi(object)]
#[derive(Debug)]
pub struct ShmCellsLayout {
    pub name: String,
    /// Words in each cell, 1 to 128.
    pub words: u32,
    /// Cells in the array.
    pub capacity: f64,
}

/// What a shared region holds. Its objects are the tables, then the channels, then the arrays of
/// cells, each in the order given; every process attaching to the region must declare the same
/// ones in the same order.
#[napi(object)]
#[derive(Debug)]
pub struct ShmLayout {
    pub tables: Option<Vec<ShmTableLayout>>,
    pub channels: Option<Vec<ShmChannelLayout>>,
    pub cells: Option<Vec<ShmCellsLayout>>,
}

/// A capacity from JavaScript: a whole number; anything else becomes 0, which the layout refuses.
fn capacity(n: f64) -> u64 {
    if n.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&n) {
        n as u64
    } else {
        0
    }
}

impl From<&ShmLayout> for Layout {
    fn from(js: &ShmLayout) -> Layout {
        let mut layout = Layout::new();
        for t in js.tables.iter().flatten() {
            layout = layout.table(
                &t.name,
                t.key_size as usize,
                t.value_size as usize,
                capacity(t.capacity),
            );
        }
        for c in js.channels.iter().flatten() {
            layout = layout.channel(&c.name, c.message_size as usize, capacity(c.capacity));
        }
        for c in js.cells.iter().flatten() {
            layout = layout.cells(&c.name, c.words as usize, capacity(c.capacity));
        }
        layout
    }
}

#[napi]
#[derive(Debug)]
pub struct NativeSharedRegion {
    region: Option<Region>,
}

#[napi]
impl NativeSharedRegion {
    /// Creates region `name` under /dev/shm; with `reuse`, attaches to an existing one whose
    /// layout matches instead of failing.
    #[napi(factory)]
    pub fn create(name: String, layout: ShmLayout, reuse: Option<bool>) -> Result<Self> {
        let existing = if reuse.unwrap_or(false) {
            Existing::Reuse
        } else {
            Existing::Fail
        };
        let region =
            Region::create_with(&name, &Layout::from(&layout), existing).map_err(shm_error)?;
        Ok(NativeSharedRegion {
            region: Some(region),
        })
    }

    /// Attaches to region `name`; throws naming every difference when its layout is not `layout`.
    #[napi(factory)]
    pub fn open(name: String, layout: ShmLayout) -> Result<Self> {
        let region = Region::open(&name, &Layout::from(&layout)).map_err(shm_error)?;
        Ok(NativeSharedRegion {
            region: Some(region),
        })
    }

    /// Removes region `name` from /dev/shm.
    #[napi]
    pub fn unlink(name: String) -> Result<()> {
        Region::unlink(&name).map_err(shm_error)
    }

    fn region(&self) -> Result<&Region> {
        self.region
            .as_ref()
            .ok_or_else(|| BindingError::Closed("region").into())
    }

    /// Whether this handle created the region.
    #[napi(getter)]
    pub fn created(&self) -> Result<bool> {
        Ok(self.region()?.created())
    }

    /// Removes the file only if this handle created it; true when it did.
    #[napi]
    pub fn unlink_if_created(&self) -> Result<bool> {
        self.region()?.unlink_if_created().map_err(shm_error)
    }

    #[napi]
    pub fn table(&self, name: String) -> Result<NativeShmTable> {
        let table = self.region()?.table(&name).map_err(shm_error)?;
        Ok(NativeShmTable { table: Some(table) })
    }

    #[napi]
    pub fn channel(&self, name: String) -> Result<NativeShmChannel> {
        let channel = self.region()?.channel(&name).map_err(shm_error)?;
        Ok(NativeShmChannel {
            channel: Some(channel),
        })
    }

    #[napi]
    pub fn cells(&self, name: String) -> Result<NativeShmCells> {
        let cells = self.region()?.cells(&name).map_err(shm_error)?;
        Ok(NativeShmCells { cells: Some(cells) })
    }

    /// Unmaps the region once the tables and channels taken from it are closed too.
    #[napi]
    pub fn close(&mut self) {
        self.region = None;
    }
}

#[napi(object)]
#[allow(missing_debug_implementations)] // a JavaScript Buffer has no Debug
pub struct ShmEntry {
    pub key: Buffer,
    pub value: Buffer,
}

#[napi]
#[derive(Debug)]
pub struct NativeShmTable {
    table: Option<fastlane_shm::Table>,
}

#[napi]
impl NativeShmTable {
    fn table(&self) -> Result<&fastlane_shm::Table> {
        self.table
            .as_ref()
            .ok_or_else(|| BindingError::Closed("table").into())
    }

    fn table_mut(&mut self) -> Result<&mut fastlane_shm::Table> {
        self.table
            .as_mut()
            .ok_or_else(|| BindingError::Closed("table").into())
    }

    /// Inserts or replaces (taking the writer lock on first use); true when `key` was new.
    #[napi]
    pub fn set(&mut self, key: Buffer, value: Buffer) -> Result<bool> {
        self.table_mut()?.insert(&key, &value).map_err(shm_error)
    }

    #[napi]
    pub fn get(&self, key: Buffer) -> Result<Option<Buffer>> {
        Ok(self.table()?.get(&key).map(Buffer::from))
    }

    /// Removes `key` (taking the writer lock on first use); true when it was present.
    #[napi]
    pub fn delete(&mut self, key: Buffer) -> Result<bool> {
        self.table_mut()?.remove(&key).map_err(shm_error)
    }

    /// Every record, each read consistently.
    #[napi]
    pub fn entries(&self) -> Result<Vec<ShmEntry>> {
        Ok(self
            .table()?
            .iter()
            .map(|(key, value)| ShmEntry {
                key: key.into(),
                value: value.into(),
            })
            .collect())
    }

    #[napi(getter)]
    pub fn size(&self) -> Result<f64> {
        Ok(self.table()?.len() as f64)
    }

    #[napi(getter)]
    pub fn key_size(&self) -> Result<u32> {
        Ok(self.table()?.key_size() as u32)
    }

    #[napi(getter)]
    pub fn value_size(&self) -> Result<u32> {
        Ok(self.table()?.value_size() as u32)
    }

    #[napi(getter)]
    pub fn capacity(&self) -> Result<f64> {
        Ok(self.table()?.capacity() as f64)
    }

    /// Gives up the writer lock and the mapping.
    #[napi]
    pub fn close(&mut self) {
        self.table = None;
    }
}

#[napi]
#[derive(Debug)]
pub struct NativeShmChannel {
    channel: Option<fastlane_shm::Channel>,
}

#[napi]
impl NativeShmChannel {
    fn channel(&mut self) -> Result<&mut fastlane_shm::Channel> {
        self.channel
            .as_mut()
            .ok_or_else(|| BindingError::Closed("channel").into())
    }

    /// Queues `message` (becoming the producer on first use); false, counted as a drop, when full.
    #[napi]
    pub fn send(&mut self, message: Buffer) -> Result<bool> {
        self.channel()?.send(&message).map_err(shm_error)
    }

    /// Up to `max` waiting messages, oldest first (becoming the consumer on first use).
    #[napi]
    pub fn recv_batch(&mut self, max: u32) -> Result<Vec<Buffer>> {
        let mut messages = Vec::new();
        self.channel()?
            .recv_batch(max as usize, |m| messages.push(Buffer::from(m.to_vec())))
            .map_err(shm_error)?;
        Ok(messages)
    }

    /// Messages dropped because the channel was full.
    #[napi(getter)]
    pub fn drops(&mut self) -> Result<f64> {
        Ok(self.channel()?.drops() as f64)
    }

    /// Gives up the ends this handle claimed and the mapping.
    #[napi]
    pub fn close(&mut self) {
        self.channel = None;
    }
}

#[napi]
#[derive(Debug)]
pub struct NativeShmCells {
    cells: Option<fastlane_shm::Cells>,
}

/// A word from JavaScript: a non-negative bigint below 2^64.
fn word(value: &BigInt) -> Result<u64> {
    match value.get_u64() {
        (false, word, true) => Ok(word),
        _ => Err(BindingError::InvalidArgument(
            "a cell word is a bigint from 0 to 2^64 - 1".into(),
        )
        .into()),
    }
}

#[napi]
impl NativeShmCells {
    fn cells(&self) -> Result<&fastlane_shm::Cells> {
        self.cells
            .as_ref()
            .ok_or_else(|| BindingError::Closed("cells").into())
    }

    fn cell(&self, index: u32) -> Result<&[std::sync::atomic::AtomicU64]> {
        let cells = self.cells()?;
        cells.cell(u64::from(index)).ok_or_else(|| {
            BindingError::InvalidArgument(format!(
                "cell {index} of {:?}: it has {} cells",
                cells.name(),
                cells.capacity()
            ))
            .into()
        })
    }

    /// Every word of cell `index`, each loaded with Acquire.
    #[napi]
    pub fn load(&self, index: u32) -> Result<BigUint64Array> {
        let words: Vec<u64> = self
            .cell(index)?
            .iter()
            .map(|w| w.load(Ordering::Acquire))
            .collect();
        Ok(words.into())
    }

    /// Stores `values` into the first words of cell `index`, in order, each with Release.
    #[napi]
    pub fn store(&self, index: u32, values: BigUint64Array) -> Result<()> {
        let cell = self.cell(index)?;
        if values.len() > cell.len() {
            return Err(BindingError::InvalidArgument(format!(
                "{} words for a cell of {}",
                values.len(),
                cell.len()
            ))
            .into());
        }
        for (w, v) in cell.iter().zip(values.iter()) {
            w.store(*v, Ordering::Release);
        }
        Ok(())
    }

    /// Stores `value` into word `word` of cell `index` with Release.
    #[napi]
    pub fn store_word(&self, index: u32, word_index: u32, value: BigInt) -> Result<()> {
        let value = word(&value)?;
        let cell = self.cell(index)?;
        let w = cell.get(word_index as usize).ok_or_else(|| {
            napi::Error::from(BindingError::InvalidArgument(format!(
                "word {word_index} of a cell of {}",
                cell.len()
            )))
        })?;
        w.store(value, Ordering::Release);
        Ok(())
    }

    #[napi(getter)]
    pub fn words(&self) -> Result<u32> {
        Ok(self.cells()?.words() as u32)
    }

    #[napi(getter)]
    pub fn capacity(&self) -> Result<f64> {
        Ok(self.cells()?.capacity() as f64)
    }

    /// Gives up the mapping.
    #[napi]
    pub fn close(&mut self) {
        self.cells = None;
    }
}
