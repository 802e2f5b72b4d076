//! Prints `apps/upf/src/generated/layout.ts`: the records' sizes and field offsets, the
//! constants, and the region's objects, for the TypeScript writer (run by `scripts/generate`).

use fastlane_upf_rules::*;

macro_rules! c {
    ($name:ident) => {
        (stringify!($name), $name as u64)
    };
}

fn main() {
    let constants: &[(&str, u64)] = &[
        c!(NONE),
        c!(INTERFACE_ACCESS),
        c!(INTERFACE_CORE),
        c!(INTERFACE_SGI_LAN),
        c!(INTERFACE_CP_FUNCTION),
        c!(MATCH_TEID),
        c!(MATCH_UE_IPV4),
        c!(MATCH_UE_IPV6),
        c!(SESSION_HAS_BAR),
        c!(SESSION_HAS_SUGGESTED_BUFFERING),
        c!(OUTER_IPV4),
        c!(OUTER_IPV6),
        c!(OUTER_PORT),
        c!(ACTION_FORWARD),
        c!(ACTION_DROP),
        c!(ACTION_BUFFER),
        c!(ACTION_NOTIFY_CP),
        c!(ACTION_DUPLICATE),
        c!(FAR_HAS_FORWARDING),
        c!(FAR_HAS_OUTER_HEADER),
        c!(QER_HAS_GATE),
        c!(QER_HAS_MBR),
        c!(QER_HAS_QFI),
        c!(GATE_UPLINK_CLOSED),
        c!(GATE_DOWNLINK_CLOSED),
        c!(LIMIT_THRESHOLD_TOTAL),
        c!(LIMIT_THRESHOLD_UPLINK),
        c!(LIMIT_THRESHOLD_DOWNLINK),
        c!(LIMIT_QUOTA_TOTAL),
        c!(LIMIT_QUOTA_UPLINK),
        c!(LIMIT_QUOTA_DOWNLINK),
        c!(LIMIT_THRESHOLD),
        c!(LIMIT_QUOTA),
        c!(TOTAL),
        c!(UPLINK),
        c!(DOWNLINK),
        c!(METHOD_VOLUME),
        c!(METHOD_DURATION),
        c!(METHOD_EVENT),
        c!(TRIGGER_PERIODIC),
        c!(TRIGGER_VOLUME_THRESHOLD),
        c!(TRIGGER_VOLUME_QUOTA),
        c!(TRIGGER_TIME_THRESHOLD),
        c!(TRIGGER_START),
        c!(URR_HAS_PERIOD),
        c!(URR_HAS_TIME_THRESHOLD),
        c!(SDF_PROTOCOL),
        c!(SDF_UE_PREFIX),
        c!(SDF_REMOTE_PREFIX),
        c!(SDF_UE_PORTS),
        c!(SDF_REMOTE_PORTS),
        c!(SDF_FILTER_ID),
        c!(SDF_IPV6),
        c!(MAX_SDF_PER_PDR),
        c!(MAX_QER_PER_PDR),
        c!(MAX_URR_PER_PDR),
        c!(MAX_PDR_PER_SESSION),
        c!(MAX_FAR_PER_SESSION),
        c!(MAX_QER_PER_SESSION),
        c!(MAX_URR_PER_SESSION),
        c!(MAX_NETWORK_INSTANCE),
        c!(PDR_HAS_QFI),
        c!(PDR_HAS_LOCAL_FTEID),
        c!(PDR_UE_IPV4),
        c!(PDR_UE_IPV6),
        c!(OHR_NONE),
        c!(OHR_GTPU_UDP_IPV4),
        c!(OHR_GTPU_UDP_IPV6),
        c!(OHR_GTPU_UDP_IP),
        c!(FAR_RECORD_HAS_BAR),
        c!(NEXT_HOP_INCOMPLETE),
        c!(NEXT_HOP_REACHABLE),
        c!(NEXT_HOP_STALE),
        c!(NEXT_HOP_FAILED),
        c!(EVENT_DOWNLINK_DATA),
        c!(EVENT_VOLUME_THRESHOLD),
        c!(EVENT_VOLUME_QUOTA),
        c!(EVENT_ERROR_INDICATION),
        c!(EVENT_HAS_QFI),
        c!(SESSION_COMMITTED),
        c!(SESSION_NOTIFIED),
        c!(SESSION_STATE_WORDS),
        c!(SESSION_LIVE),
        c!(QER_UPLINK_TAT),
        c!(QER_DOWNLINK_TAT),
        c!(QER_STATE_WORDS),
        c!(URR_UPLINK_PACKETS),
        c!(URR_UPLINK_BYTES),
        c!(URR_DOWNLINK_PACKETS),
        c!(URR_DOWNLINK_BYTES),
        c!(URR_REPORTED),
        c!(URR_STATE_WORDS),
        c!(END_MARKER_CAPACITY),
        c!(MBR_BURST_NS),
    ];
    let mut out = String::new();
    out.push_str(
        "// Generated from apps/upf/rules (cargo run -p fastlane-upf-rules --example layout) by\n\
         // scripts/generate: do not edit. The records' sizes and field offsets (bytes), the\n\
         // constants and the region's objects, as the Rust crate declares them.\n\n",
    );
    out.push_str("export const RECORDS = {\n");
    for (name, size, fields) in RECORDS {
        out.push_str(&format!(
            "  {name}: {{\n    size: {size},\n    fields: {{\n"
        ));
        for (field, offset, len) in *fields {
            out.push_str(&format!(
                "      {field}: {{ offset: {offset}, size: {len} }},\n"
            ));
        }
        out.push_str("    },\n  },\n");
    }
    out.push_str("} as const;\n\nexport const CONSTANTS = {\n");
    for (name, value) in constants {
        // Above 2^53 (SESSION_LIVE) a number would round: those are bigint.
        if *value > (1u64 << 53) {
            out.push_str(&format!("  {name}: {value}n,\n"));
        } else {
            out.push_str(&format!("  {name}: {value},\n"));
        }
    }
    out.push_str("} as const;\n\n");
    out.push_str(
        "/** The region's objects in order: capacity = the basis capacity × times + plus. */\n\
         export const OBJECTS = [\n",
    );
    for object in OBJECTS {
        let kind = match object.kind {
            Kind::Table { key, value } => {
                format!("kind: 'table', keySize: {key}, valueSize: {value}")
            }
            Kind::Channel {
                message,
                per_thread,
            } => {
                format!("kind: 'channel', messageSize: {message}, perThread: {per_thread}")
            }
            Kind::Cells { words } => format!("kind: 'cells', words: {words}"),
        };
        out.push_str(&format!(
            "  {{ name: '{}', {kind}, basis: '{}', times: {}, plus: {} }},\n",
            object.name,
            object.basis.name(),
            object.times,
            object.plus
        ));
    }
    out.push_str("] as const;\n");
    print!("{out}");
}
