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
        Ok(Reflector {
            _program: attached(programs::REFLECT, netns, interface)?,
        })
    }
}

/// `fl_pass` attached natively to an interface until dropped. A veth end delivers frames that
/// its peer sends through the XDP path (the generator's `XDP_TX`) only while it has a native XDP
/// program; this one passes every frame on, for forwarders that attach none (AF_PACKET).
#[derive(Debug)]
pub struct PassThrough {
    _program: Ebpf,
}

impl PassThrough {
    pub fn attach(netns: Option<&str>, interface: &str) -> Result<PassThrough, TestbedError> {
        Ok(PassThrough {
            _program: attached(programs::PASS, netns, interface)?,
        })
    }
}

fn attached(
    program: &'static str,
    netns: Option<&str>,
    interface: &str,
) -> Result<Ebpf, TestbedError> {
    let mut ebpf = programs::open()?;
    programs::attach_native(&mut ebpf, program, netns, interface)?;
    Ok(ebpf)
}
