//! Frames a plugin originates: the plugin's view of the host's [`EmitHook`].

use fastlane_abi::plugin::{EmitHook, FfiBytes};
use fastlane_abi::PortId;

use crate::counters::Counters;

/// Frames handed to the host in one call at most: the descriptors live on the stack.
const CHUNK: usize = 32;

/// Where [`Plugin::poll`](crate::Plugin::poll) sends the frames it makes, with the instance's
/// counters.
#[derive(Debug)]
pub struct Emitter<'a> {
    hook: &'a EmitHook,
    counters: &'a Counters<'a>,
}

impl<'a> Emitter<'a> {
    pub(crate) fn new(hook: &'a EmitHook, counters: &'a Counters<'a>) -> Self {
        Emitter { hook, counters }
    }

    /// Sends copies of `frames` (whole Ethernet frames) out of port `port`, in order, and
    /// returns how many were queued; the host counts the others as dropped, with their reason.
    /// The frames may be reused as soon as this returns.
    pub fn transmit(&mut self, port: PortId, frames: &[&[u8]]) -> usize {
        let mut queued = 0;
        for chunk in frames.chunks(CHUNK) {
            let mut raw = [FfiBytes {
                ptr: core::ptr::null(),
                len: 0,
            }; CHUNK];
            for (r, f) in raw.iter_mut().zip(chunk) {
                *r = FfiBytes::new(f);
            }
            // SAFETY: the hook is the host's, lent for this poll call; `raw` holds `chunk.len()`
            // descriptors of frames alive for the call.
            queued +=
                unsafe { (self.hook.transmit)(self.hook.host, port, raw.as_ptr(), chunk.len()) };
        }
        queued
    }

    /// This instance's counters, named by [`Plugin::COUNTERS`](crate::Plugin::COUNTERS).
    pub fn counters(&self) -> &Counters<'a> {
        self.counters
    }
}
