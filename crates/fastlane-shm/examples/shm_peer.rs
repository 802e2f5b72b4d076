//! The Rust side of the TypeScript tests: a fast-path reader that checks every record it reads,
//! and a channel producer. Layout: table "rules" (8-byte key, 64-byte value, 1024 entries),
//! channel "events" (64-byte messages, 16 deep).
//!
//! `shm_peer read <region> <keys> <millis>`: reads keys 0..keys (u64 little-endian) for `millis`,
//! checking each value is the 8-byte unit (key u32, counter u32) repeated; prints
//! `{"reads":..,"hits":..,"maxCounter":..}` and exits 1 on the first torn or foreign value.
//! `shm_peer send <region> <count>`: sends "message <i>" for i in 0..count, waiting when full.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use fastlane_shm::{Layout, Region, ShmError};

fn layout() -> Layout {
    Layout::new()
        .table("rules", 8, 64, 1024)
        .channel("events", 64, 16)
}

fn read(region: &Region, keys: u64, millis: u64) -> Result<String, String> {
    let table = region.table("rules").map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_millis(millis);
    let mut value = [0u8; 64];
    let (mut reads, mut hits, mut max_counter) = (0u64, 0u64, 0u32);
    while Instant::now() < deadline {
        for k in 0..keys {
            reads += 1;
            if !table.get_into(&k.to_le_bytes(), &mut value) {
                continue;
            }
            hits += 1;
            let unit = &value[..8];
            if unit[..4] != (k as u32).to_le_bytes() {
                return Err(format!("key {k}: value of another key {unit:?}"));
            }
            if value.chunks(8).any(|u| u != unit) {
                return Err(format!("key {k}: torn value {value:?}"));
            }
            max_counter = max_counter.max(u32::from_le_bytes(unit[4..].try_into().unwrap()));
        }
    }
    Ok(format!(
        "{{\"reads\":{reads},\"hits\":{hits},\"maxCounter\":{max_counter}}}"
    ))
}

fn send(region: &Region, count: u64) -> Result<String, ShmError> {
    let mut channel = region.channel("events")?;
    for i in 0..count {
        let message = format!("message {i}");
        while !channel.send(message.as_bytes())? {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    Ok(format!(
        "{{\"sent\":{count},\"drops\":{}}}",
        channel.drops()
    ))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| args.get(i).and_then(|s| s.parse::<u64>().ok());
    let result = match (args.first().map(String::as_str), args.get(1)) {
        (Some(mode @ ("read" | "send")), Some(name)) => match Region::open(name, &layout()) {
            Err(e) => Err(e.to_string()),
            Ok(region) => match (mode, number(2), number(3)) {
                ("read", Some(keys), Some(millis)) => read(&region, keys, millis),
                ("send", Some(count), _) => send(&region, count).map_err(|e| e.to_string()),
                _ => Err("missing or invalid numbers".into()),
            },
        },
        _ => Err("usage: shm_peer read <region> <keys> <millis> | send <region> <count>".into()),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("shm_peer: {e}");
            ExitCode::FAILURE
        }
    }
}
