// IPFilterRule (RFC 6733 clause 4.3.1), the syntax of an SDF filter's Flow Description (TS 29.244
// clause 8.2.5, TS 29.212 clause 5.4.2):
//   permit in|out <proto> from <addr> [<ports>] to <addr> [<ports>]
// "out" rules name the data network first and the UE second (the downlink packet's direction);
// "in" rules the other way round. Either way the result is oriented by UE and remote end, which
// is what the user plane matches uplink and downlink packets against. A port list expands into
// one filter per combination, since any one filter of a PDI matching is enough. Whatever the
// user plane cannot enforce (deny, negated addresses, options) is refused, never dropped silently.
import { parseIpv4, parseIpv6, formatIpv6 } from '../pfcp/bytes';
import type { FlowEnd, SdfFilter } from '../sessions/types';

export class IpFilterRuleError extends Error {
  override readonly name = 'IpFilterRuleError';
  constructor(
    readonly rule: string,
    detail: string,
  ) {
    super(`flow description ${JSON.stringify(rule)}: ${detail}`);
  }
}

const protocolNames: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, icmpv6: 58, sctp: 132 };

/** The SDF filters a flow description stands for (more than one for port lists). */
export function parseIpFilterRule(rule: string): SdfFilter[] {
  const fail = (detail: string): never => {
    throw new IpFilterRuleError(rule, detail);
  };
  const words = rule.trim().split(/\s+/);
  let i = 0;
  const next = (what: string): string => words[i++] ?? fail(`ends where ${what} should be`);
  const action = next('the action');
  if (action !== 'permit') fail(`action ${JSON.stringify(action)}: only "permit" can be enforced`);
  const dir = next('the direction');
  if (dir !== 'in' && dir !== 'out') fail(`direction ${JSON.stringify(dir)} is neither "in" nor "out"`);
  const protoWord = next('the protocol').toLowerCase();
  let protocol: number | undefined;
  if (protoWord !== 'ip') {
    protocol = protocolNames[protoWord] ?? (/^\d{1,3}$/.test(protoWord) ? Number(protoWord) : undefined);
    if (protocol === undefined || protocol > 255) fail(`protocol ${JSON.stringify(protoWord)} is not "ip", a name or 0-255`);
  }
  if (next('"from"') !== 'from') fail(`"from" expected at word ${i}`);
  const from = parseEnd(next('the source address'), fail);
  const isPorts = (w: string | undefined): boolean => w !== undefined && /^[\d,-]+$/.test(w);
  const fromPorts = isPorts(words[i]) ? parsePorts(next('the source ports'), fail) : [undefined];
  if (next('"to"') !== 'to') fail(`"to" expected at word ${i}`);
  const to = parseEnd(next('the destination address'), fail);
  const toPorts = isPorts(words[i]) ? parsePorts(next('the destination ports'), fail) : [undefined];
  if (i < words.length) fail(`options (${words.slice(i).join(' ')}) cannot be enforced by the user plane`);
  if ((fromPorts[0] !== undefined || toPorts[0] !== undefined) && protocol !== 6 && protocol !== 17 && protocol !== 132) {
    fail('ports given for a protocol without ports');
  }

  const out: SdfFilter[] = [];
  for (const fp of fromPorts) {
    for (const tp of toPorts) {
      const src = end(from, fp);
      const dst = end(to, tp);
      const [ue, remote] = dir === 'out' ? [dst, src] : [src, dst];
      const f: SdfFilter = {};
      if (protocol !== undefined) f.protocol = protocol;
      if (ue) f.ue = ue;
      if (remote) f.remote = remote;
      out.push(f);
    }
  }
  return out;
}

type Ports = { from: number; to: number } | undefined;

function end(prefix: string | undefined, ports: Ports): FlowEnd | undefined {
  if (prefix === undefined && ports === undefined) return undefined;
  const e: FlowEnd = {};
  if (prefix !== undefined) e.prefix = prefix;
  if (ports !== undefined) e.ports = ports;
  return e;
}

/** `any` and `assigned` (the UE's own address, already matched by the PDI) match any address. */
function parseEnd(word: string, fail: (d: string) => never): string | undefined {
  if (word === 'any' || word === 'assigned') return undefined;
  if (word.startsWith('!')) fail(`negated address ${word} cannot be enforced`);
  const [addr, bitsText, extra] = word.split('/');
  if (extra !== undefined || addr === undefined) return fail(`address ${JSON.stringify(word)} is malformed`);
  const v6 = addr.includes(':');
  let bytes: Uint8Array;
  try {
    bytes = v6 ? parseIpv6(addr) : parseIpv4(addr);
  } catch {
    return fail(`address ${JSON.stringify(addr)} is not IPv4 or IPv6`);
  }
  const max = v6 ? 128 : 32;
  const bits = bitsText === undefined ? max : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  if (!(bits >= 0 && bits <= max)) fail(`prefix length ${JSON.stringify(bitsText)} is not 0-${max}`);
  const text = v6 ? formatIpv6(bytes) : Array.from(bytes).join('.');
  return bits === max ? text : `${text}/${bits}`;
}

function parsePorts(word: string, fail: (d: string) => never): Ports[] {
  return word.split(',').map((part) => {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(part);
    if (!m) return fail(`port ${JSON.stringify(part)} is not a port or range`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo > 65535 || hi > 65535 || lo > hi) fail(`port range ${part} is not within 0-65535 low to high`);
    return { from: lo, to: hi };
  });
}
