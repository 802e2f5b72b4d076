//! The UMEM of a data-plane thread: the frames every socket of the thread receives into and
//! transmits from. Private anonymous memory when this process does everything; a memfd when the
//! sockets are handed to another process, which maps the same pages itself.

use std::os::fd::OwnedFd;

use fastlane_sys::{memfd, Mmap};

use crate::error::AfXdpError;

/// A mapped UMEM, with the memfd behind it when there is one.
#[derive(Debug)]
pub(crate) struct Umem {
    map: Mmap,
    memfd: Option<OwnedFd>,
}

impl Umem {
    /// `len` bytes of private anonymous memory, faulted in now so that the data plane never
    /// faults.
    pub fn anonymous(len: usize) -> Result<Umem, AfXdpError> {
        let map = Mmap::anonymous(len, true).map_err(|source| AfXdpError::Umem {
            bytes: len,
            source: source.into(),
        })?;
        Ok(Umem { map, memfd: None })
    }

    /// `len` bytes in a new memfd, mapped shared and faulted in.
    pub fn memfd(len: usize) -> Result<Umem, AfXdpError> {
        let fd = memfd::memfd_of_size("fastlane-umem", len as u64).map_err(|source| {
            AfXdpError::Umem {
                bytes: len,
                source: source.into(),
            }
        })?;
        Umem::adopt(fd, len)
    }

    /// Maps the first `len` bytes of a memfd another process made and registered.
    pub fn adopt(fd: OwnedFd, len: usize) -> Result<Umem, AfXdpError> {
        let size = memfd::file_size(&fd).map_err(AfXdpError::Adopt)?;
        if size < len as u64 {
            return Err(AfXdpError::Config(format!(
                "the UMEM memfd holds {size} bytes, the layout needs {len}"
            )));
        }
        let map = Mmap::shared(&fd, len, 0, true).map_err(|source| AfXdpError::Umem {
            bytes: len,
            source: source.into(),
        })?;
        Ok(Umem {
            map,
            memfd: Some(fd),
        })
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.map.as_ptr()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Gives up the memfd (for export) and the mapping of this process, which the kernel does not
    /// need once the UMEM is registered: the registration pins the pages.
    pub fn into_memfd(self) -> Option<OwnedFd> {
        self.memfd
    }
}
