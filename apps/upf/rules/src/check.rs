//! What a session of the alternating "storm" looks like to a reader, for the tests that change
//! sessions while readers look them up (in threads here, across processes with the TypeScript
//! writer killed mid-storm): with an even tag the uplink catch-all is PDR 2 (behind a TCP-only
//! PDR 1) and the downlink PDR is 4; with an odd tag they are PDRs 3 and 5. The tag is in the
//! uplink PDR's QER (its uplink MBR, kbit/s) and in the downlink FAR's tunnel (its TEID).
//! A packet that met parts of two generations would see an id of one shape with a tag of the
//! other, or no PDR at all.

use crate::reader::{Flow, Lookup, UpfTables};

/// The storm's session `i`: uplink TEID, UE address.
pub fn storm_teid(i: u32) -> u32 {
    0x10_0000 + i
}

pub fn storm_ue(i: u32) -> [u8; 4] {
    [10, 77, (i >> 8) as u8, i as u8]
}

/// What one look at session `i` found wrong, if anything; else its generation.
pub fn check_storm_session(tables: &UpfTables, i: u32) -> Result<u32, String> {
    let up = Flow::ipv4(storm_ue(i), [8, 8, 8, 8], 17, Some((1000, 53)));
    let generation = match tables.uplink(storm_teid(i), None, &up) {
        Lookup::Pdr(m) => {
            let tag = m.pdr.qers().first().map_or(u64::MAX, |q| q.mbr_uplink_kbps);
            let even = tag.is_multiple_of(2);
            if (m.pdr.pdr_id == 2) != even || !matches!(m.pdr.pdr_id, 2 | 3) {
                return Err(format!(
                    "session {i}: uplink PDR {} with tag {tag}",
                    m.pdr.pdr_id
                ));
            }
            m.generation
        }
        other => return Err(format!("session {i}: uplink {other:?}")),
    };
    let down = Flow::ipv4([8, 8, 8, 8], storm_ue(i), 17, Some((53, 1000)));
    match tables.downlink(&down) {
        Lookup::Pdr(m) => {
            let tag = m.pdr.far.outer.teid;
            if (m.pdr.pdr_id == 4) != tag.is_multiple_of(2) || !matches!(m.pdr.pdr_id, 4 | 5) {
                return Err(format!(
                    "session {i}: downlink PDR {} with tag {tag}",
                    m.pdr.pdr_id
                ));
            }
        }
        other => return Err(format!("session {i}: downlink {other:?}")),
    }
    Ok(generation)
}
