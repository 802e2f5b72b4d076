//! The processor of the README's "Writing a processor": compiled with the workspace (clippy
//! `--all-targets`), so the README's example cannot drift from the API.

use fastlane_core::{Batch, DropReason, Processor, Verdict};
use fastlane_wire::{EtherType, EthernetFrame, IpProtocol, Ipv4Packet};

/// Sends IPv4 UDP packets back where they came from and drops everything else.
struct Reflect;

impl Processor for Reflect {
    fn process(&mut self, batch: &mut Batch) {
        for mut packet in batch.iter_mut() {
            let udp = EthernetFrame::new_checked(packet.data())
                .ok()
                .filter(|eth| eth.ethertype() == EtherType::Ipv4)
                .and_then(|eth| Ipv4Packet::new_checked(eth.into_payload()).ok())
                .is_some_and(|ip| ip.protocol() == IpProtocol::Udp);
            if udp {
                let mut eth = EthernetFrame::new_unchecked(packet.data_mut());
                let (dst, src) = (eth.dst_addr(), eth.src_addr());
                eth.set_dst_addr(src);
                eth.set_src_addr(dst);
                packet.set_verdict(Verdict::Transmit);
            } else {
                packet.set_verdict(Verdict::Drop(DropReason::Processor));
            }
        }
    }
}

/// Runs one UDP frame and one ARP-typed frame through it, as a backend would hand them over.
fn reflects_udp_and_drops_the_rest() {
    let mut udp = fastlane_core::wire::testing::ipv4_udp(9000, 18);
    let mut other = udp.clone();
    other[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let (dst, src) = (udp[..6].to_vec(), udp[6..12].to_vec());
    let mut batch = Batch::with_capacity(2);
    for (slot, frame) in batch
        .begin_fill(0, 0)
        .iter_mut()
        .zip([&mut udp, &mut other])
    {
        // SAFETY: both frames outlive the batch and nothing else touches them meanwhile.
        unsafe {
            slot.set(
                frame.as_mut_ptr(),
                frame.len() as u32,
                0,
                frame.len() as u32,
                0,
            )
        };
    }
    batch.set_len(2);
    Reflect.process(&mut batch);
    let verdicts: Vec<Verdict> = batch.slots().iter().map(|s| s.verdict()).collect();
    assert_eq!(
        verdicts,
        [Verdict::Transmit, Verdict::Drop(DropReason::Processor)]
    );
    drop(batch);
    assert_eq!((&udp[..6], &udp[6..12]), (&src[..], &dst[..]));
}

fn main() {
    reflects_udp_and_drops_the_rest();
    println!("reflect: UDP sent back with its addresses swapped, the rest dropped");
}

#[test]
fn the_readme_processor_reflects_udp_and_drops_the_rest() {
    reflects_udp_and_drops_the_rest();
}
