//! A fast path whose rules a slow path writes, in the shape of a 5G UPF's downlink PDR lookup:
//! each packet's destination IPv4 address is looked up in a shared-memory table that another
//! process (in any language) fills and updates while the data plane forwards. A packet with a
//! rule whose action is `forward` keeps going (the next stage transmits it); any other packet is
//! dropped. The table lives on when its writer dies, so forwarding goes on with the last rules
//! and a restarted writer reattaches to them.
//!
//! Config: `{ "region": "fl-rules", "table": "rules", "capacity": 65536 }` — the region's
//! layout is one table of 4-byte keys (the IPv4 address, network order) and 8-byte values
//! (byte 0: 1 = forward, 0 = drop).

use fastlane_plugin::{Batch, DropReason, Plugin, Verdict};
use miniserde::json::{self, Number, Object, Value};
use fastlane_shm::{Layout, Region, Table};
use fastlane_wire::{EtherType, EthernetFrame, Ipv4Packet};

const HIT: usize = 0;
const MISS: usize = 1;
const DENIED: usize = 2;

pub const KEY_SIZE: usize = 4;
pub const VALUE_SIZE: usize = 8;
const ACTION_FORWARD: u8 = 1;

pub struct Rules {
    table: Table,
    /// Keeps the mapping alive for `table`.
    _region: Region,
}

fn text<'a>(config: &'a Object, key: &str) -> Option<&'a str> {
    match config.get(key)? {
        Value::String(text) => Some(text),
        _ => None,
    }
}

impl Plugin for Rules {
    const COUNTERS: &'static [&'static str] = &["hit", "miss", "denied"];

    fn new(config: &str) -> Result<Self, String> {
        let Ok(Value::Object(config)) = json::from_str(config) else {
            return Err("the config must be an object".into());
        };
        if let Some(key) = config
            .keys()
            .find(|k| !matches!(k.as_str(), "region" | "table" | "capacity"))
        {
            return Err(format!("unknown key {key:?}"));
        }
        let region_name =
            text(&config, "region").ok_or("region: the shared-memory region's name is required")?;
        let table_name = text(&config, "table").unwrap_or("rules");
        let capacity = match config.get("capacity") {
            None => 65536,
            Some(Value::Number(Number::U64(n))) => *n,
            Some(_) => return Err("capacity: a number of records".into()),
        };
        let layout = Layout::new().table(table_name, KEY_SIZE, VALUE_SIZE, capacity);
        let region = Region::open(region_name, &layout).map_err(|e| format!("region {region_name}: {e}"))?;
        let table = region.table(table_name).map_err(|e| format!("table {table_name}: {e}"))?;
        Ok(Rules { table, _region: region })
    }

    fn process(&mut self, batch: &mut Batch<'_>) {
        let (mut hit, mut miss, mut denied) = (0, 0, 0);
        let mut value = [0u8; VALUE_SIZE];
        for mut packet in batch.iter_mut() {
            // The classifier let only well-formed IPv4/IPv6 through; rules are IPv4.
            let destination = EthernetFrame::new_checked(packet.data())
                .ok()
                .filter(|eth| eth.ethertype() == EtherType::Ipv4)
                .and_then(|eth| Ipv4Packet::new_checked(eth.into_payload()).ok())
                .map(|ip| ip.dst_addr().octets());
            if destination.is_some_and(|dst| self.table.get_into(&dst, &mut value)) {
                if value[0] == ACTION_FORWARD {
                    hit += 1;
                    continue;
                }
                denied += 1;
            } else {
                miss += 1;
            }
            packet.set_verdict(Verdict::Drop(DropReason::Processor));
        }
        batch.counters().add(HIT, hit);
        batch.counters().add(MISS, miss);
        batch.counters().add(DENIED, denied);
    }
}

fastlane_plugin::export!(Rules);
