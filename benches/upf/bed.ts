// The UPF benchmark's test bed: three namespaces in a line, as a UPF sits between the radio side
// and the data network.
//
//   <p>-gnb  <p>-g3 10.78.S.1 ── <p>-u3 10.78.S.2 (N3)  <p>-upf  (N6) <p>-u6 10.79.S.1 ── <p>-d6 10.79.S.2  <p>-dn
//
// The generator sends uplink GTP-U from the gNB end and downlink IP (to the UE pool) from the DN
// end; what the forwarder sends on comes back to the other end (the UPF) or to the same one
// (macswap). The UPF's next hops (the gNB, and the DN host as N6 gateway) are permanent
// neighbour entries in its namespace, where it reads them from the kernel. Needs root.

import { execFileSync } from 'node:child_process';

export interface BedEnd {
  netns: string;
  interface: string;
  address: string;
  mac: string;
}

export class UpfBed {
  private constructor(
    readonly prefix: string,
    /** The gNB's end of N3. */
    readonly gnb: BedEnd,
    /** The UPF's N3 port. */
    readonly n3: BedEnd,
    /** The UPF's N6 port. */
    readonly n6: BedEnd,
    /** The DN's end of N6 (the data network host, and the UPF's N6 gateway). */
    readonly dn: BedEnd,
  ) {}

  /** Builds the bed (prefix: 1 to 9 characters; subnet: S above); on failure removes it again. */
  static up(prefix: string, subnet: number): UpfBed {
    if (!/^[A-Za-z0-9]{1,9}$/.test(prefix)) {
      throw new Error(`UPF test bed prefix ${JSON.stringify(prefix)}: use 1 to 9 of A-Z a-z 0-9`);
    }
    const ns = { gnb: `${prefix}-gnb`, upf: `${prefix}-upf`, dn: `${prefix}-dn` };
    try {
      for (const name of Object.values(ns)) {
        ip('netns', 'add', name);
        ip('-n', name, 'link', 'set', 'lo', 'up');
        for (const knob of ['all', 'default']) {
          execFileSync('ip', ['netns', 'exec', name, 'sysctl', '-qw', `net.ipv6.conf.${knob}.disable_ipv6=1`]);
        }
      }
      const gnb = { netns: ns.gnb, interface: `${prefix}-g3`, address: `10.78.${subnet}.1` };
      const n3 = { netns: ns.upf, interface: `${prefix}-u3`, address: `10.78.${subnet}.2` };
      const n6 = { netns: ns.upf, interface: `${prefix}-u6`, address: `10.79.${subnet}.1` };
      const dn = { netns: ns.dn, interface: `${prefix}-d6`, address: `10.79.${subnet}.2` };
      for (const [a, b] of [
        [gnb, n3],
        [n6, dn],
      ] as const) {
        ip('link', 'add', a.interface, 'netns', a.netns, 'type', 'veth', 'peer', 'name', b.interface, 'netns', b.netns);
      }
      const ends = [gnb, n3, n6, dn].map((end) => {
        ip('-n', end.netns, 'addr', 'add', `${end.address}/24`, 'dev', end.interface);
        ip('-n', end.netns, 'link', 'set', end.interface, 'up');
        // Like a wire: frames carry finished checksums (see src-ts/testbed.ts).
        execFileSync('ip', ['netns', 'exec', end.netns, 'ethtool', '-K', end.interface, 'tx', 'off'], { stdio: 'ignore' });
        return { ...end, mac: macOf(end.netns, end.interface) };
      }) as [BedEnd, BedEnd, BedEnd, BedEnd];
      const bed = new UpfBed(prefix, ...ends);
      ip('-n', ns.upf, 'neigh', 'replace', bed.gnb.address, 'lladdr', bed.gnb.mac, 'dev', bed.n3.interface, 'nud', 'permanent');
      ip('-n', ns.upf, 'neigh', 'replace', bed.dn.address, 'lladdr', bed.dn.mac, 'dev', bed.n6.interface, 'nud', 'permanent');
      ip('-n', ns.upf, 'route', 'add', 'default', 'via', bed.dn.address, 'dev', bed.n6.interface);
      return bed;
    } catch (e) {
      UpfBed.down(prefix);
      throw e;
    }
  }

  down(): void {
    UpfBed.down(this.prefix);
  }

  /** Removes the three namespaces (and with them both veth pairs); never throws. */
  static down(prefix: string): void {
    for (const name of ['gnb', 'upf', 'dn']) {
      try {
        ip('netns', 'delete', `${prefix}-${name}`);
      } catch {
        // Not there (never made, or already removed).
      }
    }
  }
}

function ip(...args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`ip ${args.join(' ')}: ${stderr || (e as Error).message}`);
  }
}

function macOf(netns: string, iface: string): string {
  const [link] = JSON.parse(ip('-n', netns, '-j', 'link', 'show', 'dev', iface)) as Array<{ address?: string }>;
  if (link?.address === undefined) {
    throw new Error(`no MAC address for ${iface} in ${netns}`);
  }
  return link.address;
}
