// The PFCP node's Prometheus metrics (prom-client, registered beside the data plane's fastlane_*
// ones when the caller passes that registry).
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface PfcpMetrics {
  readonly registry: Registry;
  /** Messages by direction (rx, tx), message type name and cause (empty for messages without). */
  messages: Counter<'direction' | 'type' | 'cause'>;
  /** Datagrams dropped or answered with an error because they could not be decoded or were wrong. */
  malformed: Counter<'reason'>;
  /** Requests answered again from the response cache. */
  duplicates: Counter;
  retransmissions: Counter<'type'>;
  /** Requests of ours the peer never answered after N1 retransmissions. */
  timeouts: Counter<'type'>;
  reports: Counter<'kind'>;
  sessions: Gauge;
  pdrs: Gauge;
  associations: Gauge;
  heartbeatRtt: Histogram<'peer'>;
}

export function createPfcpMetrics(registry: Registry = new Registry()): PfcpMetrics {
  const registers = [registry];
  return {
    registry,
    messages: new Counter({ name: 'pfcp_messages_total', help: 'PFCP messages received (rx) and sent (tx), by message type and cause.', labelNames: ['direction', 'type', 'cause'], registers }),
    malformed: new Counter({ name: 'pfcp_malformed_messages_total', help: 'PFCP datagrams that could not be decoded or broke the protocol, by reason (dropped or answered with an error cause).', labelNames: ['reason'], registers }),
    duplicates: new Counter({ name: 'pfcp_duplicate_requests_total', help: 'Retransmitted PFCP requests answered from the response cache, not applied again.', registers }),
    retransmissions: new Counter({ name: 'pfcp_retransmissions_total', help: 'PFCP requests of the UPF sent again after T1 without a response, by message type.', labelNames: ['type'], registers }),
    timeouts: new Counter({ name: 'pfcp_request_timeouts_total', help: 'PFCP requests of the UPF left unanswered after N1 retransmissions, by message type.', labelNames: ['type'], registers }),
    reports: new Counter({ name: 'pfcp_session_reports_total', help: 'Session Report Requests sent, by report (usage, downlink_data, error_indication).', labelNames: ['kind'], registers }),
    sessions: new Gauge({ name: 'pfcp_sessions', help: 'PFCP sessions established.', registers }),
    pdrs: new Gauge({ name: 'pfcp_pdrs', help: 'PDRs of all PFCP sessions.', registers }),
    associations: new Gauge({ name: 'pfcp_associations', help: 'PFCP associations with SMFs.', registers }),
    heartbeatRtt: new Histogram({
      name: 'pfcp_heartbeat_rtt_seconds',
      help: 'Round-trip time of the UPF’s Heartbeat Requests, by peer.',
      labelNames: ['peer'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
  };
}
