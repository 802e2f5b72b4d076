//! A named region: a file under /dev/shm or a memfd, mapped shared, with the layout's header at
//! offset 0. The magic is written last, so a region is never seen half-initialised.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cells::Cells;
use crate::channel::Channel;
use crate::error::ShmError;
use crate::layout::{self, Layout, ObjectKind, ObjectSpec};
use crate::mem::Mapping;
use crate::table::Table;
use fastlane_sys::{memfd, unix, SysError};

const SHM_DIR: &str = "/dev/shm";
/// How long `open` waits for a creator that has made the file but not yet written the header.
const INIT_WAIT: Duration = Duration::from_secs(1);

/// What `create` does when the name exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Fail,
    /// Attaches to it when its layout matches (the region then counts as not created by us).
    Reuse,
}

/// A mapped region and its objects' places. Tables and channels taken from it keep the mapping
/// alive on their own.
#[derive(Debug)]
pub struct Region {
    map: Arc<Mapping>,
    /// Under /dev/shm; None for a memfd.
    name: Option<String>,
    created: bool,
    layout: Layout,
    offsets: Vec<usize>,
}

fn validate_name(name: &str) -> Result<(), ShmError> {
    let invalid = |reason| {
        Err(ShmError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() || name.len() > 200 {
        return invalid("must be 1 to 200 characters");
    }
    if name.starts_with('.') {
        return invalid("must not start with '.'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return invalid("only letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(())
}

fn path_of(name: &str) -> String {
    format!("{SHM_DIR}/{name}")
}

fn sys_error<'a>(syscall: &'static str, name: &'a str) -> impl FnOnce(SysError) -> ShmError + 'a {
    move |source| ShmError::Sys {
        syscall,
        name: name.to_string(),
        source: source.into(),
    }
}

impl Region {
    /// Creates region `name` under /dev/shm; fails if it exists.
    pub fn create(name: &str, layout: &Layout) -> Result<Region, ShmError> {
        Region::create_with(name, layout, Existing::Fail)
    }

    /// Creates region `name`, or with [`Existing::Reuse`] attaches to an existing one whose
    /// layout matches.
    pub fn create_with(
        name: &str,
        layout: &Layout,
        existing: Existing,
    ) -> Result<Region, ShmError> {
        validate_name(name)?;
        layout.validate()?;
        let path = path_of(name);
        let fd = match memfd::open_rw(&path, true) {
            Ok(fd) => fd,
            Err(e) if e.is(libc::EEXIST) => {
                return match existing {
                    Existing::Fail => Err(ShmError::AlreadyExists {
                        name: name.to_string(),
                    }),
                    Existing::Reuse => Region::open(name, layout),
                };
            }
            Err(e) => return Err(sys_error("open", name)(e)),
        };
        Region::initialise(fd, Some(name.to_string()), layout).inspect_err(|_| {
            let _ = memfd::unlink(&path);
        })
    }

    /// Creates an anonymous region in a memfd, to hand to another process with [`send_region`].
    pub fn create_memfd(label: &str, layout: &Layout) -> Result<Region, ShmError> {
        validate_name(label)?;
        layout.validate()?;
        let fd = memfd::memfd_create(label).map_err(sys_error("memfd_create", label))?;
        Region::initialise(fd, None, layout)
    }

    fn initialise(fd: OwnedFd, name: Option<String>, layout: &Layout) -> Result<Region, ShmError> {
        let label = name.clone().unwrap_or_else(|| "memfd".into());
        let (offsets, size) = layout.placement();
        memfd::set_len(&fd, size as u64).map_err(sys_error("ftruncate", &label))?;
        let map = Mapping::new(fd, size).map_err(sys_error("mmap", &label))?;
        layout.write_header(&map, &offsets, size);
        map.u64(layout::H_MAGIC)
            .store(layout::MAGIC, Ordering::Release);
        Ok(Region {
            map: Arc::new(map),
            name,
            created: true,
            layout: layout.clone(),
            offsets,
        })
    }

    /// Attaches to region `name`; fails naming every difference when its layout is not `layout`.
    pub fn open(name: &str, layout: &Layout) -> Result<Region, ShmError> {
        validate_name(name)?;
        layout.validate()?;
        let fd = memfd::open_rw(&path_of(name), false).map_err(|e| {
            if e.is(libc::ENOENT) {
                ShmError::NotFound {
                    name: name.to_string(),
                }
            } else {
                sys_error("open", name)(e)
            }
        })?;
        Region::attach(fd, Some(name.to_string()), layout)
    }

    /// Attaches to a region received as a descriptor (a memfd or an opened file).
    pub fn from_fd(fd: OwnedFd, layout: &Layout) -> Result<Region, ShmError> {
        layout.validate()?;
        Region::attach(fd, None, layout)
    }

    fn attach(fd: OwnedFd, name: Option<String>, layout: &Layout) -> Result<Region, ShmError> {
        let label = name.clone().unwrap_or_else(|| "memfd".into());
        let not_a_region = |reason: String| ShmError::NotARegion {
            name: label.clone(),
            reason,
        };
        let started = Instant::now();
        let size = loop {
            let size = memfd::file_size(&fd).map_err(sys_error("fstat", &label))?;
            if size >= layout::HEADER_SIZE as u64 || started.elapsed() > INIT_WAIT {
                break size;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if size < layout::HEADER_SIZE as u64 {
            return Err(not_a_region(format!("{size} bytes, shorter than a header")));
        }
        let size = usize::try_from(size).map_err(|_| not_a_region("too large".into()))?;
        let map = Mapping::new(fd, size).map_err(sys_error("mmap", &label))?;
        while map.u64(layout::H_MAGIC).load(Ordering::Acquire) == 0 && started.elapsed() < INIT_WAIT
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let magic = map.u64(layout::H_MAGIC).load(Ordering::Acquire);
        if magic != layout::MAGIC {
            return Err(not_a_region(format!("magic {magic:#018x}")));
        }
        let version = map.u32(layout::H_VERSION).load(Ordering::Relaxed);
        if version != layout::VERSION {
            return Err(ShmError::Version {
                name: label,
                found: version,
                expected: layout::VERSION,
            });
        }
        let (offsets, expected_size) = layout.placement();
        if map.u64(layout::H_HASH).load(Ordering::Relaxed) != layout.hash() {
            return Err(ShmError::LayoutMismatch {
                name: label,
                differences: layout.differences(&Layout::read_header(&map)),
            });
        }
        let declared = map.u64(layout::H_SIZE).load(Ordering::Relaxed);
        if declared != expected_size as u64 || map.len() < expected_size {
            return Err(not_a_region(format!(
                "{} bytes (header says {declared}), the layout needs {expected_size}",
                map.len()
            )));
        }
        Ok(Region {
            map: Arc::new(map),
            name,
            created: false,
            layout: layout.clone(),
            offsets,
        })
    }

    /// The name under /dev/shm; None for a memfd.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Whether this handle created the region (rather than opening or reusing it).
    pub fn created(&self) -> bool {
        self.created
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The region's descriptor, e.g. to pass to another process.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.map.fd().as_fd()
    }

    fn object(&self, kind: ObjectKind, name: &str) -> Result<(&ObjectSpec, usize), ShmError> {
        self.layout
            .objects()
            .iter()
            .zip(&self.offsets)
            .find(|(o, _)| o.kind == kind && o.name == name)
            .map(|(o, offset)| (o, *offset))
            .ok_or_else(|| ShmError::UnknownObject {
                kind: kind.as_str(),
                object: name.to_string(),
            })
    }

    pub fn table(&self, name: &str) -> Result<Table, ShmError> {
        let (spec, offset) = self.object(ObjectKind::Table, name)?;
        Ok(Table::new(self.map.clone(), spec, offset))
    }

    pub fn channel(&self, name: &str) -> Result<Channel, ShmError> {
        let (spec, offset) = self.object(ObjectKind::Channel, name)?;
        Ok(Channel::new(self.map.clone(), spec, offset))
    }

    pub fn cells(&self, name: &str) -> Result<Cells, ShmError> {
        let (spec, offset) = self.object(ObjectKind::Cells, name)?;
        Ok(Cells::new(self.map.clone(), spec, offset))
    }

    /// Removes region `name` from /dev/shm; processes that have it mapped keep their mapping.
    pub fn unlink(name: &str) -> Result<(), ShmError> {
        validate_name(name)?;
        memfd::unlink(&path_of(name)).map_err(|e| {
            if e.is(libc::ENOENT) {
                ShmError::NotFound {
                    name: name.to_string(),
                }
            } else {
                sys_error("unlink", name)(e)
            }
        })
    }

    /// What an owner does on stop: removes the file only if this handle created it. True when
    /// it removed it.
    pub fn unlink_if_created(&self) -> Result<bool, ShmError> {
        match (&self.name, self.created) {
            (Some(name), true) => Region::unlink(name).map(|()| true),
            _ => Ok(false),
        }
    }
}

/// Sends `region`'s descriptor over a Unix socket (SCM_RIGHTS).
pub fn send_region(socket: &UnixStream, region: &Region) -> Result<(), ShmError> {
    unix::send_fds(socket, &[0], &[region.fd()]).map_err(sys_error("sendmsg", "memfd"))
}

/// Receives a region sent by [`send_region`] and attaches to it with `layout`.
pub fn receive_region(socket: &UnixStream, layout: &Layout) -> Result<Region, ShmError> {
    let (_, mut fds) =
        unix::recv_fds(socket, &mut [0u8; 1], 1).map_err(sys_error("recvmsg", "memfd"))?;
    let fd = fds.pop().ok_or_else(|| ShmError::NotARegion {
        name: "memfd".into(),
        reason: "the message carried no descriptor".into(),
    })?;
    Region::from_fd(fd, layout)
}
