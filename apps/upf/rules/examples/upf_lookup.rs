//! Looks packets up in a UPF region as the fast path does and prints what it found, one JSON line
//! per query: for the TypeScript tests of what `UpfSessions` writes (apps/upf/test/sessions-rust.test.ts).
//!
//! `upf_lookup REGION CAPACITIES QUERY...`, CAPACITIES as `sessions=N,pdrs=N,...` and each QUERY
//! one of
//! - `ul,TEID,QFI|-,SRC,DST,PROTO,SPORT,DPORT[,admit=COUNTxBYTES]`
//! - `dl,SRC,DST,PROTO,SPORT,DPORT[,admit=COUNTxBYTES][,notify]`
//! - `ei,TEID,ADDRESS`: an Error Indication from that peer
//! - `nh,ADDRESS`: the next hop of ADDRESS
//! - `em`: every waiting End Marker request
//!
//! (`admit` runs QERs and URRs on COUNT packets of BYTES at 1 ms steps of a clock from 0;
//! `notify` raises the downlink-data event.)

use std::net::IpAddr;

use fastlane_upf_rules::*;

fn main() {
    if let Err(e) = run() {
        eprintln!("upf_lookup: {e}");
        std::process::exit(2);
    }
}

fn addr(text: &str) -> Result<(bool, [u8; 16]), String> {
    let ip: IpAddr = text.parse().map_err(|e| format!("{text}: {e}"))?;
    let mut out = [0u8; 16];
    Ok(match ip {
        IpAddr::V4(v4) => {
            out[..4].copy_from_slice(&v4.octets());
            (false, out)
        }
        IpAddr::V6(v6) => (true, v6.octets()),
    })
}

fn number<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    let parsed = if let Some(hex) = text.strip_prefix("0x") {
        u64::from_str_radix(hex, 16)
            .map_err(|e| e.to_string())?
            .to_string()
    } else {
        text.to_string()
    };
    parsed.parse().map_err(|_| format!("{text}: not a number"))
}

fn flow(fields: &[&str]) -> Result<Flow, String> {
    let [src, dst, proto, sport, dport] = fields else {
        return Err(format!("{fields:?}: SRC,DST,PROTO,SPORT,DPORT"));
    };
    let (v6, src) = addr(src)?;
    let (_, dst) = addr(dst)?;
    let protocol: u8 = number(proto)?;
    let ports = matches!(protocol, 6 | 17 | 132).then(|| (number(sport), number(dport)));
    let ports = match ports {
        Some((Ok(s), Ok(d))) => Some((s, d)),
        Some(_) => return Err("bad port".into()),
        None => None,
    };
    Ok(Flow {
        ipv6: v6,
        src,
        dst,
        protocol,
        ports,
    })
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [region, caps_text, queries @ ..] = args.as_slice() else {
        return Err("usage: upf_lookup REGION CAPACITIES QUERY...".into());
    };
    let mut caps = Capacities::default();
    for pair in caps_text.split(',').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').ok_or(format!("{pair}: name=value"))?;
        let value: u32 = number(value)?;
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
    let mut events = tables.events(0).map_err(|e| e.to_string())?;
    for query in queries {
        let fields: Vec<&str> = query.split(',').collect();
        let (lookup, direction, rest) = match fields.first() {
            Some(&"ul") if fields.len() >= 8 => {
                let teid: u32 = number(fields[1])?;
                let qfi = (fields[2] != "-").then(|| number(fields[2])).transpose()?;
                (
                    tables.uplink(teid, qfi, &flow(&fields[3..8])?),
                    Direction::Uplink,
                    &fields[8..],
                )
            }
            Some(&"dl") if fields.len() >= 6 => (
                tables.downlink(&flow(&fields[1..6])?),
                Direction::Downlink,
                &fields[6..],
            ),
            Some(&"ei") if fields.len() == 3 => {
                let (v6, a) = addr(fields[2])?;
                let mut remote = OuterHeader {
                    teid: number(fields[1])?,
                    ..OuterHeader::default()
                };
                if v6 {
                    remote.flags = OUTER_IPV6;
                    remote.ipv6 = a;
                } else {
                    remote.flags = OUTER_IPV4;
                    remote.ipv4.copy_from_slice(&a[..4]);
                }
                println!("{{\"sent\":{}}}", events.error_indication(&remote));
                continue;
            }
            Some(&"nh") if fields.len() == 2 => {
                let (v6, a) = addr(fields[1])?;
                let key = if v6 {
                    NextHopKey::ipv6(a)
                } else {
                    NextHopKey::ipv4([a[0], a[1], a[2], a[3]])
                };
                match tables.next_hop(&key) {
                    Some(hop) => println!(
                        "{{\"mac\":\"{}\",\"port\":{},\"state\":{},\"ifindex\":{},\"usable\":{}}}",
                        hop.mac.map(|b| format!("{b:02x}")).join(":"),
                        hop.port,
                        hop.state,
                        hop.ifindex,
                        hop.usable()
                    ),
                    None => println!("{{\"next_hop\":null}}"),
                }
                continue;
            }
            Some(&"em") => {
                let mut markers = Vec::new();
                tables
                    .end_markers()
                    .map_err(|e| e.to_string())?
                    .take(64, |m| {
                        markers.push(format!(
                        "{{\"seid\":\"{}\",\"far\":{},\"teid\":{},\"ipv4\":\"{}\",\"flags\":{}}}",
                        m.seid,
                        m.far_id,
                        m.old_path.teid,
                        std::net::Ipv4Addr::from(m.old_path.ipv4),
                        m.old_path.flags
                    ))
                    });
                println!("{{\"end_markers\":[{}]}}", markers.join(","));
                continue;
            }
            _ => return Err(format!("{query}: not a query")),
        };
        let m = match lookup {
            Lookup::Unknown => {
                println!("{{\"result\":\"unknown\"}}");
                continue;
            }
            Lookup::NoPdr { seid } => {
                println!("{{\"result\":\"no-pdr\",\"seid\":\"{seid}\"}}");
                continue;
            }
            Lookup::Pdr(m) => m,
        };
        let p = &m.pdr;
        let mut admitted = String::new();
        for extra in rest {
            if let Some(spec) = extra.strip_prefix("admit=") {
                let (count, bytes) = spec.split_once('x').ok_or("admit=COUNTxBYTES")?;
                let (count, bytes): (u64, u32) = (number(count)?, number(bytes)?);
                let mut outcome = std::collections::BTreeMap::<String, u64>::new();
                for i in 0..count {
                    let a = tables.admit(&m, direction, bytes, i * 1_000_000, &mut events);
                    let key = match a {
                        Admission::Pass => "pass",
                        Admission::GateClosed { .. } => "gate",
                        Admission::RateLimited { .. } => "rate",
                        Admission::QuotaExhausted { .. } => "quota",
                    };
                    *outcome.entry(key.into()).or_default() += 1;
                }
                let parts: Vec<String> = outcome
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                admitted = format!(",\"admitted\":{{{}}}", parts.join(","));
            } else if *extra == "notify" {
                admitted.push_str(&format!(
                    ",\"notified\":{}",
                    tables.notify_downlink_data(&m, &mut events)
                ));
            } else {
                return Err(format!("{extra}: not admit=… or notify"));
            }
        }
        let o = &p.far.outer;
        println!(
            "{{\"result\":\"pdr\",\"seid\":\"{}\",\"pdr\":{},\"generation\":{},\"ohr\":{},\"far\":{},\"action\":{},\"destination\":{},\"outer\":{},\"teid\":{},\"ipv4\":\"{}\",\"ipv6\":\"{}\",\"port\":{},\"qers\":[{}],\"urrs\":[{}]{admitted}}}",
            p.seid,
            p.pdr_id,
            m.generation,
            p.outer_header_removal,
            p.far_id,
            p.far.action,
            p.far.destination_interface,
            p.far.outer_header().is_some(),
            o.teid,
            std::net::Ipv4Addr::from(o.ipv4),
            std::net::Ipv6Addr::from(o.ipv6),
            o.port,
            p.qers().iter().map(|q| format!("{{\"id\":{},\"gate\":{},\"qfi\":{},\"ul\":{},\"dl\":{}}}", q.qer_id, q.gate, q.qfi, q.mbr_uplink_kbps, q.mbr_downlink_kbps)).collect::<Vec<_>>().join(","),
            p.urrs().iter().map(|u| format!("{{\"id\":{},\"flags\":{}}}", u.urr_id, u.flags)).collect::<Vec<_>>().join(","),
        );
    }
    Ok(())
}
