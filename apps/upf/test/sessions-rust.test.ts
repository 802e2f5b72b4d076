// What UpfSessions writes, as the Rust fast path reads it (fastlane-upf-rules' upf_lookup, run
// in its own process): uplink by TEID, QFI and SDF precedence; downlink by UE IPv4 address and
// IPv6 prefix with the FAR's tunnel; counts and quota; and the events it raises as
// UpfSessions.events gives them.
import test from 'ava';
import { execFileSync } from 'node:child_process';

import { ShmUpfSessions, UpfNextHops } from '../src/sessions/index';
import type { SessionRules } from '../src/sessions/types';
import { regionName, rulesExample, unlink } from './sessions-helpers';

const CAPS = { sessions: 8, pdrs: 32, fars: 32, qers: 8, urrs: 8, next_hops: 4, event_channels: 1, event_capacity: 16 };

function lookup(region: string, ...queries: string[]): Record<string, unknown>[] {
  const caps = Object.entries(CAPS).map(([k, v]) => `${k}=${v}`).join(',');
  const out = execFileSync(rulesExample('upf_lookup'), [region, caps, ...queries], { encoding: 'utf8' });
  return out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

const RULES: SessionRules = {
  pdrs: [
    {
      pdrId: 1,
      precedence: 10,
      pdi: {
        sourceInterface: 'access',
        localFTeid: { teid: 0x2001, ipv4: '10.0.0.1' },
        qfi: 9,
        sdfFilters: [{ protocol: 6, remote: { prefix: '198.51.100.0/24', ports: { from: 443, to: 443 } } }],
      },
      outerHeaderRemoval: 'gtpu-udp-ipv4',
      farId: 1,
    },
    {
      pdrId: 2,
      precedence: 100,
      pdi: { sourceInterface: 'access', localFTeid: { teid: 0x2001, ipv4: '10.0.0.1' } },
      outerHeaderRemoval: 'gtpu-udp-ipv4',
      farId: 1,
      qerIds: [1],
      urrIds: [1],
    },
    {
      pdrId: 3,
      precedence: 100,
      pdi: { sourceInterface: 'core', ueIpAddress: { ipv4: '10.45.0.7', ipv6Prefix: '2001:db8:7::/64' } },
      farId: 2,
      qerIds: [1],
    },
    {
      pdrId: 4,
      precedence: 5,
      pdi: { sourceInterface: 'core', ueIpAddress: { ipv4: '10.45.0.7' }, sdfFilters: [{ protocol: 17, remote: { ports: { from: 53, to: 53 } } }] },
      farId: 3,
    },
  ],
  fars: [
    { farId: 1, applyAction: { forward: true }, forwardingParameters: { destinationInterface: 'core' } },
    {
      farId: 2,
      applyAction: { forward: true },
      forwardingParameters: { destinationInterface: 'access', outerHeaderCreation: { teid: 0x99, ipv4: '192.0.2.10', port: 2153 } },
    },
    { farId: 3, applyAction: { buffer: true, notifyCp: true } },
  ],
  qers: [{ qerId: 1, gateStatus: { uplink: 'open', downlink: 'open' }, mbr: { uplinkKbps: 64_000, downlinkKbps: 128_000 }, qfi: 5 }],
  urrs: [
    {
      urrId: 1,
      measurementMethod: { volume: true },
      reportingTriggers: { volumeThreshold: true, volumeQuota: true },
      volumeThreshold: { total: 1000n },
      volumeQuota: { total: 3000n },
    },
  ],
};

test('the Rust reader finds what UpfSessions wrote; counts, quota and events come back', (t) => {
  const name = regionName('rust');
  const s = ShmUpfSessions.create(name, CAPS);
  try {
    s.create(0x42n, RULES);
    const [tcp, udp, noQfi, unknownTeid, buffered, v4, v6, otherPrefix, counted, indication] = lookup(
      name,
      'ul,0x2001,9,10.45.0.7,198.51.100.5,6,40000,443',
      'ul,0x2001,9,10.45.0.7,198.51.100.5,17,40000,443',
      'ul,0x2001,-,10.45.0.7,198.51.100.5,6,40000,443',
      'ul,0x2002,9,10.45.0.7,198.51.100.5,6,40000,443',
      'dl,8.8.8.8,10.45.0.7,17,53,1000,notify',
      'dl,8.8.4.4,10.45.0.7,6,443,1000',
      'dl,2001:db8::1,2001:db8:7::99,6,443,1000',
      'dl,2001:db8::1,2001:db8:8::1,6,443,1000',
      'ul,0x2001,-,10.45.0.7,203.0.113.1,17,1,2,admit=5x1000',
      'ei,0x1234,192.0.2.55',
    );
    t.like(tcp, { result: 'pdr', seid: '66', pdr: 1, far: 1, ohr: 1, outer: false, qers: [], urrs: [] });
    t.like(udp, { result: 'pdr', pdr: 2, qers: [{ id: 1, gate: 0, qfi: 5, ul: 64000, dl: 128000 }], urrs: [{ id: 1, flags: 9 }] });
    t.like(noQfi, { result: 'pdr', pdr: 2 });
    t.like(unknownTeid, { result: 'unknown' });
    t.like(buffered, { result: 'pdr', pdr: 4, far: 3, action: 12, notified: true });
    t.like(v4, { result: 'pdr', pdr: 3, far: 2, action: 1, destination: 0, outer: true, teid: 0x99, ipv4: '192.0.2.10', port: 2153 });
    t.like(v6, { result: 'pdr', pdr: 3, teid: 0x99 });
    t.like(otherPrefix, { result: 'unknown' });
    // Quota 3000 bytes: three packets of 1000 pass, then none.
    t.like(counted, { result: 'pdr', pdr: 2, admitted: { pass: 3, quota: 2 } });
    t.like(indication, { sent: true });

    t.deepEqual(s.usage(0x42n), [{ urrId: 1, uplink: { packets: 3n, bytes: 3000n }, downlink: { packets: 0n, bytes: 0n }, quotaExhausted: true }]);
    t.deepEqual(s.events(), [
      { type: 'downlink-data', seid: 0x42n, pdrId: 4 },
      { type: 'volume-threshold', seid: 0x42n, urrId: 1 },
      { type: 'volume-quota', seid: 0x42n, urrId: 1 },
      { type: 'error-indication', remote: { teid: 0x1234, ipv4: '192.0.2.55' } },
    ]);
    t.deepEqual(s.events(), []);

    // More quota: forwarding resumes for it, counted from now. A closed gate stops the uplink.
    s.modify(0x42n, { updateUrrs: [{ urrId: 1, volumeQuota: { total: 2000n } }] });
    t.like(lookup(name, 'ul,0x2001,-,10.45.0.7,203.0.113.1,17,1,2,admit=3x1000')[0], { admitted: { pass: 2, quota: 1 } });
    t.deepEqual(s.events(), [{ type: 'volume-quota', seid: 0x42n, urrId: 1 }]);
    s.modify(0x42n, { updateQers: [{ qerId: 1, gateStatus: { uplink: 'closed', downlink: 'open' } }] });
    t.like(lookup(name, 'ul,0x2001,-,10.45.0.7,203.0.113.1,17,1,2,admit=1x100')[0], { admitted: { gate: 1 } });
    // The usage goes on from where it was; delete hands it over and the session is gone.
    const final = s.delete(0x42n);
    t.deepEqual(final, [{ urrId: 1, uplink: { packets: 5n, bytes: 5000n }, downlink: { packets: 0n, bytes: 0n }, quotaExhausted: true }]);
    t.like(lookup(name, 'ul,0x2001,-,10.45.0.7,203.0.113.1,17,1,2')[0], { result: 'unknown' });
    t.like(lookup(name, 'dl,8.8.4.4,10.45.0.7,6,443,1000')[0], { result: 'unknown' });
  } finally {
    s.close();
    unlink(name);
  }
});

test('next hops written by UpfNextHops are what the fast path reads; a path switch sends an End Marker on the old path', (t) => {
  const name = regionName('nexthops');
  const s = ShmUpfSessions.create(name, CAPS);
  const hops = new UpfNextHops(s.region);
  try {
    hops.set('192.0.2.10', { mac: '02:00:00:00:00:0A', port: 0, ifindex: 7, state: 'reachable' });
    hops.set('::', { mac: '02:00:00:00:00:0b', port: 1, ifindex: 8, state: 'stale' });
    hops.set('0.0.0.0', { mac: '02:00:00:00:00:0c', port: 1, ifindex: 8, state: 'incomplete' });
    t.deepEqual(hops.get('192.0.2.10'), { mac: '02:00:00:00:00:0a', port: 0, ifindex: 7, state: 'reachable' });
    t.is(hops.size, 3);
    t.throws(() => hops.set('192.0.2.300', { mac: '02:00:00:00:00:0a', port: 0, ifindex: 7, state: 'reachable' }), { message: /not an IPv4 or IPv6 address/ });
    t.throws(() => hops.set('192.0.2.1', { mac: '02:00:00:00:0a', port: 0, ifindex: 7, state: 'reachable' }), { message: /mac/ });
    t.throws(() => hops.set('192.0.2.1', { mac: '02:00:00:00:00:0a', port: 0, ifindex: 7, state: 'gone' as 'failed' }), { message: /state/ });
    const [v4, v6, gateway, missing] = lookup(name, 'nh,192.0.2.10', 'nh,::', 'nh,0.0.0.0', 'nh,192.0.2.11');
    t.deepEqual(v4, { mac: '02:00:00:00:00:0a', port: 0, state: 1, ifindex: 7, usable: true });
    t.like(v6, { mac: '02:00:00:00:00:0b', port: 1, usable: true });
    t.like(gateway, { usable: false });
    t.deepEqual(missing, { next_hop: null });
    t.true(hops.delete('192.0.2.10'));
    t.false(hops.delete('192.0.2.10'));
    t.deepEqual(lookup(name, 'nh,192.0.2.10')[0], { next_hop: null });

    s.create(0x42n, RULES);
    // Only a changed tunnel with SNDEM asks for an End Marker, on the path the FAR left.
    s.modify(0x42n, { updateFars: [{ farId: 2, updateForwardingParameters: { outerHeaderCreation: { teid: 0x99, ipv4: '192.0.2.10', port: 2153 }, sendEndMarker: true } }] });
    s.modify(0x42n, { updateFars: [{ farId: 2, updateForwardingParameters: { outerHeaderCreation: { teid: 0x77, ipv4: '192.0.2.20' } } }] });
    s.modify(0x42n, { updateFars: [{ farId: 2, updateForwardingParameters: { outerHeaderCreation: { teid: 0x55, ipv4: '192.0.2.30' }, sendEndMarker: true } }] });
    t.deepEqual(lookup(name, 'em')[0], { end_markers: [{ seid: '66', far: 2, teid: 0x77, ipv4: '192.0.2.20', flags: 1 }] });
  } finally {
    hops.close();
    s.close();
    unlink(name);
  }
});
