//! Looks up every session of the storm (see `check_storm_session`) in a loop for a while, from
//! its own process, and reports what it saw as one line of JSON; exits 1 on the first torn
//! session. Used by apps/upf/test/sessions-kill.test.ts while a TypeScript writer changes the
//! sessions and is killed.
//!
//! `storm_watch REGION SESSIONS MILLISECONDS [sessions=N pdrs=N ...]` (the region's capacities,
//! as the writer made it).

use std::time::{Duration, Instant};

use fastlane_upf_rules::{check_storm_session, Capacities, UpfTables};

fn main() {
    if let Err(e) = run() {
        println!("{{\"error\":{e:?}}}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [region, sessions, millis, rest @ ..] = args.as_slice() else {
        return Err("usage: storm_watch REGION SESSIONS MILLISECONDS [name=capacity ...]".into());
    };
    let sessions: u32 = sessions.parse().map_err(|e| format!("SESSIONS: {e}"))?;
    let millis: u64 = millis.parse().map_err(|e| format!("MILLISECONDS: {e}"))?;
    let mut caps = Capacities::default();
    for arg in rest {
        let (name, value) = arg
            .split_once('=')
            .ok_or(format!("{arg}: not name=value"))?;
        let value: u32 = value.parse().map_err(|e| format!("{name}: {e}"))?;
        match name {
            "sessions" => caps.sessions = value,
            "pdrs" => caps.pdrs = value,
            "fars" => caps.fars = value,
            "qers" => caps.qers = value,
            "urrs" => caps.urrs = value,
            "next_hops" => caps.next_hops = value,
            "event_channels" => caps.event_channels = value,
            "event_capacity" => caps.event_capacity = value,
            _ => return Err(format!("{name}: not a capacity")),
        }
    }
    let tables = UpfTables::open(region, &caps).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut last = vec![0u32; sessions as usize];
    let (mut looks, mut changes) = (0u64, 0u64);
    println!("{{\"started\":true}}");
    while started.elapsed() < Duration::from_millis(millis) {
        for i in 0..sessions {
            let generation = check_storm_session(&tables, i)?;
            let seen = &mut last[i as usize];
            if generation < *seen {
                return Err(format!("session {i}: generation {generation} after {seen}"));
            }
            changes += u64::from(generation != *seen);
            *seen = generation;
            looks += 1;
        }
    }
    println!(
        "{{\"looks\":{looks},\"changes\":{changes},\"generations\":{}}}",
        last.iter().map(|g| u64::from(*g)).sum::<u64>()
    );
    Ok(())
}
