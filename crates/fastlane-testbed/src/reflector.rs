use aya::Ebpf;

use crate::programs;
use crate::TestbedError;

/// `fl_reflect` attached natively to an interface until dropped: every IPv4/IPv6 UDP frame that
/// arrives goes back out with its MAC addresses swapped, in the kernel (`XDP_TX`); everything
/// else goes to the kernel stack, so ARP and ping keep working.
#[derive(Debug)]
pub struct Reflector {
    /// Owns the attachment (a bpf_link): dropping it detaches the program.
    _program: Ebpf,
}

impl Reflector {
    pub fn attach(netns: Option<&str>, interface: &str) -> Result<Reflector, TestbedError> {
        let mut ebpf = programs::open()?;
        programs::attach_native(&mut ebpf, programs::REFLECT, netns, interface)?;
        Ok(Reflector { _program: ebpf })
    }
}
