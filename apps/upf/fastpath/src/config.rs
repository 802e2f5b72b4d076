//! The plugin's config: the JSON text of its pipeline stage's `config`, checked with errors that
//! name the key.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use miniserde::json::{self, Number, Object, Value};
use upf_rules::Capacities;

/// How much downlink buffering (FAR action BUFF) one data-plane thread does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffering {
    /// Packets held at most, over all FARs.
    pub packets: u64,
    /// Packets held at most for one FAR (a BAR's suggested count, where smaller, wins).
    pub per_far: u64,
    /// FARs buffering at once at most.
    pub fars: u64,
}

impl Default for Buffering {
    fn default() -> Self {
        Buffering {
            packets: 1024,
            per_far: 64,
            fars: 64,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpfConfig {
    /// The shared-memory region the rules are in, and the capacities its writer made it with.
    pub region: String,
    pub capacities: Capacities,
    /// The UPF's N3 addresses: the source of what it sends to gNBs.
    pub n3_ipv4: Option<Ipv4Addr>,
    pub n3_ipv6: Option<Ipv6Addr>,
    /// Indexes into the Fastlane config's `ports`.
    pub n3_port: u16,
    pub n6_port: u16,
    /// The two ports' MAC addresses; when not given, each is learnt from the destination of
    /// the frames the port receives.
    pub n3_mac: Option<[u8; 6]>,
    pub n6_mac: Option<[u8; 6]>,
    /// The Recovery IE's restart counter in Echo Responses.
    pub recovery: u8,
    /// Error Indications sent at most per second by one thread (the burst is a tenth of it,
    /// at least one).
    pub error_indications_per_second: u64,
    pub buffering: Buffering,
}

impl UpfConfig {
    /// The N3 address of `peer`'s family.
    pub fn n3_address_for(&self, peer: IpAddr) -> Option<IpAddr> {
        match peer {
            IpAddr::V4(_) => self.n3_ipv4.map(IpAddr::V4),
            IpAddr::V6(_) => self.n3_ipv6.map(IpAddr::V6),
        }
    }

    pub fn parse(text: &str) -> Result<UpfConfig, String> {
        let Ok(Value::Object(o)) = json::from_str::<Value>(text) else {
            return Err(format!("the config must be a JSON object, not {text}"));
        };
        known(
            &o,
            "",
            &[
                "region",
                "capacities",
                "n3",
                "n3_port",
                "n6_port",
                "n3_mac",
                "n6_mac",
                "recovery",
                "error_indications_per_second",
                "buffering",
            ],
        )?;
        let region = match o.get("region") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => {
                return Err(
                    "region: the name of the rules' shared-memory region is required".into(),
                )
            }
        };
        let mut capacities = Capacities::default();
        if let Some(c) = object(&o, "capacities")? {
            const KEYS: [&str; 8] = [
                "sessions",
                "pdrs",
                "fars",
                "qers",
                "urrs",
                "next_hops",
                "event_channels",
                "event_capacity",
            ];
            known(c, "capacities.", &KEYS)?;
            let fields = [
                &mut capacities.sessions,
                &mut capacities.pdrs,
                &mut capacities.fars,
                &mut capacities.qers,
                &mut capacities.urrs,
                &mut capacities.next_hops,
                &mut capacities.event_channels,
                &mut capacities.event_capacity,
            ];
            for (key, field) in KEYS.into_iter().zip(fields) {
                if let Some(n) = number(c, "capacities.", key, 1, u64::from(u32::MAX))? {
                    *field = n as u32;
                }
            }
        }
        let Some(n3) = object(&o, "n3")? else {
            return Err(
                "n3: the UPF's N3 address(es) are required: {\"ipv4\": ..., \"ipv6\": ...}".into(),
            );
        };
        known(n3, "n3.", &["ipv4", "ipv6"])?;
        let n3_ipv4 = address::<Ipv4Addr>(n3, "ipv4", "an IPv4 address")?;
        let n3_ipv6 = address::<Ipv6Addr>(n3, "ipv6", "an IPv6 address")?;
        if n3_ipv4.is_none() && n3_ipv6.is_none() {
            return Err("n3: give at least one of ipv4 and ipv6".into());
        }
        let port = |key: &str| -> Result<u16, String> {
            number(&o, "", key, 0, u64::from(u16::MAX))?
                .map(|n| n as u16)
                .ok_or_else(|| {
                    format!("{key}: the index of the port in the config's ports is required")
                })
        };
        let (n3_port, n6_port) = (port("n3_port")?, port("n6_port")?);
        if n3_port == n6_port {
            return Err(format!("n6_port: must differ from n3_port ({n3_port})"));
        }
        let (n3_mac, n6_mac) = (mac(&o, "n3_mac")?, mac(&o, "n6_mac")?);
        let recovery = number(&o, "", "recovery", 0, 255)?.unwrap_or(0) as u8;
        let error_indications_per_second =
            number(&o, "", "error_indications_per_second", 0, 1_000_000)?.unwrap_or(100);
        let mut buffering = Buffering::default();
        if let Some(b) = object(&o, "buffering")? {
            known(b, "buffering.", &["packets", "per_far", "fars"])?;
            for (key, field, max) in [
                ("packets", &mut buffering.packets, 1 << 20),
                ("per_far", &mut buffering.per_far, 1 << 16),
                ("fars", &mut buffering.fars, 1 << 16),
            ] {
                if let Some(n) = number(b, "buffering.", key, 0, max)? {
                    *field = n;
                }
            }
        }
        Ok(UpfConfig {
            region,
            capacities,
            n3_ipv4,
            n3_ipv6,
            n3_port,
            n6_port,
            n3_mac,
            n6_mac,
            recovery,
            error_indications_per_second,
            buffering,
        })
    }
}

fn known(o: &Object, path: &str, keys: &[&str]) -> Result<(), String> {
    match o.keys().find(|k| !keys.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "{path}{k}: unknown key (known here: {})",
            keys.join(", ")
        )),
        None => Ok(()),
    }
}

fn object<'a>(o: &'a Object, key: &str) -> Result<Option<&'a Object>, String> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::Object(inner)) => Ok(Some(inner)),
        Some(_) => Err(format!("{key}: must be an object")),
    }
}

fn number(o: &Object, path: &str, key: &str, min: u64, max: u64) -> Result<Option<u64>, String> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::Number(Number::U64(n))) if (min..=max).contains(n) => Ok(Some(*n)),
        Some(_) => Err(format!(
            "{path}{key}: must be a whole number from {min} to {max}"
        )),
    }
}

fn mac(o: &Object, key: &str) -> Result<Option<[u8; 6]>, String> {
    let Some(value) = o.get(key) else {
        return Ok(None);
    };
    let bad = || format!("{key}: must be a MAC address as \"02:00:00:00:00:01\"");
    let Value::String(text) = value else {
        return Err(bad());
    };
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next().filter(|p| p.len() == 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    match parts.next() {
        Some(_) => Err(bad()),
        None => Ok(Some(mac)),
    }
}

fn address<T: core::str::FromStr>(o: &Object, key: &str, what: &str) -> Result<Option<T>, String> {
    match o.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| format!("n3.{key}: {s:?} is not {what}")),
        Some(_) => Err(format!("n3.{key}: must be {what} as a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"region": "upf", "n3": {"ipv4": "192.0.2.1", "ipv6": "2001:db8::1"},
        "n3_port": 0, "n6_port": 1, "recovery": 7, "n6_mac": "02:00:00:00:00:0a",
        "capacities": {"sessions": 100}, "buffering": {"per_far": 8}}"#;

    #[test]
    fn a_full_config_parses_with_defaults_for_what_it_leaves_out() {
        let c = UpfConfig::parse(GOOD).unwrap();
        assert_eq!(c.region, "upf");
        assert_eq!(c.n3_ipv4, Some(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(c.n3_ipv6, Some("2001:db8::1".parse().unwrap()));
        assert_eq!((c.n3_port, c.n6_port, c.recovery), (0, 1, 7));
        assert_eq!(c.capacities.sessions, 100);
        assert_eq!((c.n3_mac, c.n6_mac), (None, Some([2, 0, 0, 0, 0, 0x0a])));
        assert_eq!(c.capacities.pdrs, 20_000);
        assert_eq!(c.buffering.per_far, 8);
        assert_eq!(c.buffering.packets, 1024);
        assert_eq!(c.error_indications_per_second, 100);
    }

    #[test]
    fn each_bad_key_is_named() {
        let cases = [
            (r#"[]"#, "the config must be a JSON object"),
            (
                r#"{"n3": {"ipv4": "192.0.2.1"}, "n3_port": 0, "n6_port": 1}"#,
                "region:",
            ),
            (r#"{"region": "r", "n3_port": 0, "n6_port": 1}"#, "n3:"),
            (
                r#"{"region": "r", "n3": {}, "n3_port": 0, "n6_port": 1}"#,
                "n3: give at least one",
            ),
            (
                r#"{"region": "r", "n3": {"ipv4": "2001:db8::1"}, "n3_port": 0, "n6_port": 1}"#,
                "n3.ipv4: \"2001:db8::1\" is not an IPv4 address",
            ),
            (
                r#"{"region": "r", "n3": {"ipv4": "192.0.2.1"}, "n6_port": 1}"#,
                "n3_port:",
            ),
            (
                r#"{"region": "r", "n3": {"ipv4": "192.0.2.1"}, "n3_port": 1, "n6_port": 1}"#,
                "n6_port: must differ",
            ),
            (
                r#"{"region": "r", "n3": {"ipv4": "192.0.2.1"}, "n3_port": 0, "n6_port": 1, "recovery": 256}"#,
                "recovery: must be a whole number from 0 to 255",
            ),
            (
                r#"{"region": "r", "n3": {"ipv4": "192.0.2.1"}, "n3_port": 0, "n6_port": 1, "colour": 1}"#,
                "colour: unknown key",
            ),
            (
                r#"{"region": "r", "n3": {"ipv4": "192.0.2.1"}, "n3_port": 0, "n6_port": 1, "capacities": {"pdrs": 0}}"#,
                "capacities.pdrs: must be a whole number from 1",
            ),
            (
                r#"{"region": "r", "n3": {"ipv4": "192.0.2.1"}, "n3_port": 0, "n6_port": 1, "buffering": {"bytes": 1}}"#,
                "buffering.bytes: unknown key",
            ),
        ];
        for (text, expected) in cases {
            let err = UpfConfig::parse(text).unwrap_err();
            assert!(err.starts_with(expected), "{text}: {err}");
        }
    }
}
