// The UPF benchmark's own pieces, without running it: the frames it sends (decoded by scapy, not by
// our code), the chart it draws and the line counting of its size report.

import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import type { UpfTestbed } from '../apps/upf/test/testbed';
import { throughputSvg } from '../benches/upf/chart';
import { downlinkFrames, gnbTeid, peersOf, sessionRules, ueAddress, upfTeid, uplinkFrames } from '../benches/upf/subscribers';
import { codeLines } from '../benches/upf-size';
import { TrafficGenerator } from '../src-ts/traffic';

const PYTHON = join(__dirname, '..', 'target', 'pyenv', 'bin', 'python');
const end = (mac: string, ipv4: string) => ({ netns: '', iface: '', ipv6: '', mac, ipv4 });
const bed = {
  gnb: end('02:00:00:00:00:01', '10.78.1.1'),
  n3: end('02:00:00:00:00:02', '10.78.1.2'),
  n6: end('02:00:00:00:00:03', '10.79.1.1'),
  dn: end('02:00:00:00:00:04', '10.79.1.2'),
} as unknown as UpfTestbed;

const DECODE = `
import json, sys
from scapy.all import Ether, IP, UDP, raw
from scapy.contrib.gtp import GTP_U_Header, GTPPDUSessionContainer
out = []
for h in json.load(sys.stdin):
    p = Ether(bytes.fromhex(h))
    ips = [l for l in p.iterpayloads() if isinstance(l, IP)]
    def ok(ip):
        fresh = ip.copy(); del fresh.chksum
        return IP(raw(fresh)).chksum == ip.chksum
    g = p.getlayer(GTP_U_Header)
    c = p.getlayer(GTPPDUSessionContainer)
    out.append({"len": len(p), "ips": [[i.src, i.dst, i.len, ok(i)] for i in ips],
                "udp": [[u.sport, u.dport] for u in p.iterpayloads() if isinstance(u, UDP)],
                "teid": g.teid if g else None, "gtp_len": g.length if g else None,
                "qfi": c.QFI if c else None, "pdu_type": c.type if c else None})
print(json.dumps(out))
`;

test('the uplink and downlink frames decode in scapy as the UEs their sessions are for', (t) => {
  if (!existsSync(PYTHON)) {
    t.fail(`${PYTHON} is missing: run scripts/bootstrap (it installs scapy)`);
    return;
  }
  const up = uplinkFrames(bed, 300, 60);
  const down = downlinkFrames(bed, 300, 1396);
  const picked = [0, 299].flatMap((i) => [up[i]!, down[i]!]);
  const decoded = JSON.parse(
    execFileSync(PYTHON, ['-c', DECODE], { input: JSON.stringify(picked.map((f) => f.toString('hex'))) }).toString(),
  ) as Array<{ len: number; ips: Array<[string, string, number, boolean]>; udp: number[][]; teid: number | null; gtp_len: number; qfi: number; pdu_type: number }>;
  for (const [k, ue] of [0, 299].entries()) {
    const u = decoded[2 * k]!;
    const d = decoded[2 * k + 1]!;
    const rules = sessionRules(ue, peersOf(bed));
    t.is(u.len, 104);
    t.deepEqual(u.ips, [
      ['10.78.1.1', '10.78.1.2', 90, true],
      [ueAddress(ue), '10.79.1.2', 46, true],
    ]);
    t.deepEqual(u.udp, [
      [2152, 2152],
      [9000, 9000],
    ]);
    t.is(u.teid, upfTeid(ue));
    t.is(u.teid, rules.pdrs[0]!.pdi.localFTeid!.teid);
    t.is(u.gtp_len, 90 - 20 - 8 - 8, 'after the mandatory 8 bytes');
    t.is(u.qfi, rules.pdrs[0]!.pdi.qfi!);
    t.is(u.pdu_type, 1, 'UL PDU session information');
    t.is(d.len, 1396);
    t.deepEqual(d.ips, [['10.79.1.2', ueAddress(ue), 1382, true]]);
    t.is(d.ips[0]![1], rules.pdrs[1]!.pdi.ueIpAddress!.ipv4!);
    t.is(rules.fars[1]!.forwardingParameters!.outerHeaderCreation!.teid, gnbTeid(ue));
  }
  t.is(ueAddress(299), '10.45.1.44');
  // Distinct per UE, alike after the first 128 bytes (what the generator requires).
  t.not(up[0]!.subarray(0, 128).compare(up[1]!.subarray(0, 128)), 0);
  t.is(up[0]!.subarray(128).compare(up[299]!.subarray(128)), 0);
  t.is(down[0]!.subarray(128).compare(down[299]!.subarray(128)), 0);
});

test('the chart has a bar per value, grouped by size, one panel per direction', (t) => {
  const svg = throughputSvg({
    ues: 10_000,
    note: 'a note',
    rows: [
      { backend: 'af_xdp', direction: 'uplink', size: 64, upfMpps: 0.5, macswapMpps: 0.6 },
      { backend: 'af_xdp', direction: 'uplink', size: 1400, upfMpps: 0.4, macswapMpps: 0.45 },
      { backend: 'dpdk', direction: 'uplink', size: 64, upfMpps: 0.55 },
      { backend: 'af_xdp', direction: 'downlink', size: 64, macswapMpps: 0.61 },
    ],
  });
  const bars = svg.match(/<rect x="[\d.]+" y="[\d.]+" width="20"/g) ?? [];
  t.is(bars.length, 6);
  for (const label of ['0.50', '0.60', '0.40', '0.45', '0.55', '0.61', '64 B', '1400 B', 'Uplink', 'Downlink', '10,000 UEs', 'a note']) {
    t.true(svg.includes(`>${label}`) || svg.includes(label), label);
  }
  t.regex(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
});

test('code lines leave out blanks, comments and test items', (t) => {
  const rust = [
    '//! doc',
    'use a::b;',
    '',
    '/* block',
    '   still */',
    'fn f() {',
    '    g(); // trailing',
    '}',
    '#[cfg(test)]',
    'mod tests {',
    '    #[test]',
    '    fn t() { assert!(true); }',
    '}',
    '#[cfg(test)]',
    'use x::y;',
    'const C: u8 = 1;',
    'impl Plugin for Upf {',
    '    // the hook',
    '    fn process(&mut self) {',
    '        run();',
    '    }',
    '}',
    'fastlane_plugin::export!(Upf);',
    'impl Other for Upf {}',
  ].join('\n');
  t.deepEqual(codeLines(rust, true), { code: 12, glue: 6 });
  t.deepEqual(codeLines('// a\nconst x = 1;\n/** doc */\nexport {};\n', false), { code: 2, glue: 0 });
  t.deepEqual(codeLines('#[cfg(test)]\nmod t {}\n', false), { code: 2, glue: 0 }, 'TypeScript has no cfg(test)');
});

test('the generator takes one frame or a list of them, and a return interface only by name', (t) => {
  const frame = Buffer.alloc(60);
  const base = { interface: 'lo', matchUdpPort: 9000 };
  t.throws(() => new TrafficGenerator({ ...base, frame, frames: [frame] }), { message: /frame, frames: give exactly one/ });
  t.throws(() => new TrafficGenerator(base), { message: /frame, frames: give exactly one/ });
  t.throws(() => new TrafficGenerator({ ...base, frames: [frame], returnNetns: 'x' }), { message: /returnNetns: given without returnInterface/ });
  t.notThrows(() => new TrafficGenerator({ ...base, frames: [frame, frame], returnInterface: 'lo' }));
});
