// The UPF's three-namespace test bed:
//
//   <p>-gnb ── <p>-g ══ <p>-n3 ── <p>-upf ── <p>-n6 ══ <p>-d ── <p>-dn
//   gNB side     10.201.S.1/24  .2            .2  10.202.S.1/24     data network
//                fd00:3:S::1/64 ::2          ::2  fd00:6:S::1/64
//
// The UPF namespace's default routes go through the DN side's address (its N6 gateway); the DN
// side routes the UE pools back to the UPF's N6 address. No MAC appears anywhere in a config:
// the UPF learns them from its kernel. Names are unique per process; down() removes everything
// and is safe to call on a partial bed.

import { execFileSync } from 'node:child_process';

export const UE_POOL_V4 = '10.45.0.0/16';
export const UE_POOL_V6 = 'fd00:45::/48';

export interface BedEnd {
  netns: string;
  iface: string;
  ipv4: string;
  ipv6: string;
  mac: string;
}

function run(command: string, ...args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const stderr = String((e as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`${command} ${args.join(' ')}: ${stderr || (e as Error).message}`);
  }
}

function quietly(step: () => unknown): void {
  try {
    step();
  } catch {
    // Teardown goes on past what is already gone.
  }
}

export class UpfTestbed {
  readonly gnb: BedEnd;
  readonly dn: BedEnd;
  /** The UPF's ends: N3 faces the gNB, N6 the DN. */
  readonly n3: BedEnd;
  readonly n6: BedEnd;
  readonly upfNetns: string;
  /**
   * Addresses past the N6 gateway that no host holds: the DN's kernel routes them to a blackhole,
   * which answers nothing, so uplink test traffic causes no downlink of its own.
   */
  readonly remote: { ipv4: string; ipv6: string };

  private constructor(
    readonly prefix: string,
    readonly subnet: number,
  ) {
    const s = subnet;
    this.upfNetns = `${prefix}-upf`;
    this.remote = { ipv4: `198.51.${s}.7`, ipv6: `fd00:66:${s}::7` };
    this.gnb = { netns: `${prefix}-gnb`, iface: `${prefix}-g`, ipv4: `10.201.${s}.1`, ipv6: `fd00:3:${s}::1`, mac: '' };
    this.n3 = { netns: this.upfNetns, iface: `${prefix}-n3`, ipv4: `10.201.${s}.2`, ipv6: `fd00:3:${s}::2`, mac: '' };
    this.n6 = { netns: this.upfNetns, iface: `${prefix}-n6`, ipv4: `10.202.${s}.2`, ipv6: `fd00:6:${s}::2`, mac: '' };
    this.dn = { netns: `${prefix}-dn`, iface: `${prefix}-d`, ipv4: `10.202.${s}.1`, ipv6: `fd00:6:${s}::1`, mac: '' };
  }

  /** Builds the bed; on failure removes what it made and throws. */
  static up(prefix: string, subnet: number): UpfTestbed {
    const bed = new UpfTestbed(prefix, subnet);
    try {
      bed.#build();
    } catch (e) {
      bed.down();
      throw e;
    }
    return bed;
  }

  #build(): void {
    const ends = [this.gnb, this.n3, this.n6, this.dn];
    for (const ns of [this.gnb.netns, this.upfNetns, this.dn.netns]) {
      run('ip', 'netns', 'add', ns);
      run('ip', '-n', ns, 'link', 'set', 'lo', 'up');
      // No kernel chatter of its own beyond what is asked (no DAD, router solicitations).
      for (const knob of ['all', 'default']) {
        run('ip', 'netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${knob}.accept_dad=0`);
        run('ip', 'netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${knob}.router_solicitations=0`);
        // A punt TAP delivers packets for addresses held by another interface (see the README).
        run('ip', 'netns', 'exec', ns, 'sysctl', '-qw', `net.ipv4.conf.${knob}.rp_filter=0`);
      }
    }
    for (const [a, b] of [
      [this.gnb, this.n3],
      [this.n6, this.dn],
    ] as const) {
      run('ip', 'link', 'add', a.iface, 'type', 'veth', 'peer', 'name', b.iface);
      run('ip', 'link', 'set', a.iface, 'netns', a.netns);
      run('ip', 'link', 'set', b.iface, 'netns', b.netns);
    }
    for (const end of ends) {
      run('ip', '-n', end.netns, 'addr', 'add', `${end.ipv4}/24`, 'dev', end.iface);
      run('ip', '-n', end.netns, 'addr', 'add', `${end.ipv6}/64`, 'dev', end.iface, 'nodad');
      run('ip', '-n', end.netns, 'link', 'set', end.iface, 'up');
      // Like a wire: frames carry finished checksums (see the README's test-bed section).
      run('ip', 'netns', 'exec', end.netns, 'ethtool', '-K', end.iface, 'tx', 'off');
      const [link] = JSON.parse(run('ip', '-n', end.netns, '-j', 'link', 'show', 'dev', end.iface)) as Array<{ address: string }>;
      end.mac = link?.address ?? '';
    }
    // The fast path hands a packet whose next hop is not resolved yet to the kernel, which routes it.
    run('ip', 'netns', 'exec', this.upfNetns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    run('ip', 'netns', 'exec', this.upfNetns, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1');
    run('ip', '-n', this.upfNetns, 'route', 'add', 'default', 'via', this.dn.ipv4);
    run('ip', '-n', this.upfNetns, '-6', 'route', 'add', 'default', 'via', this.dn.ipv6);
    // Uplink test traffic goes past the DN side, which discards it without an ICMP answer.
    run('ip', '-n', this.dn.netns, 'route', 'add', 'blackhole', `${this.remote.ipv4}/32`);
    run('ip', '-n', this.dn.netns, '-6', 'route', 'add', 'blackhole', `${this.remote.ipv6}/128`);
    run('ip', '-n', this.dn.netns, 'route', 'add', UE_POOL_V4, 'via', this.n6.ipv4);
    run('ip', '-n', this.dn.netns, '-6', 'route', 'add', UE_POOL_V6, 'via', this.n6.ipv6);
  }

  /** Runs a command inside namespace `netns`. */
  exec(netns: string, ...command: string[]): string {
    return run('ip', 'netns', 'exec', netns, ...command);
  }

  /** The MAC `netns`'s kernel holds for `address`, if any. */
  neighbourMac(netns: string, address: string): string | undefined {
    const entries = JSON.parse(run('ip', '-n', netns, '-j', 'neigh', 'show', 'to', address)) as Array<{ lladdr?: string }>;
    return entries.find((e) => e.lladdr !== undefined)?.lladdr;
  }

  /** Removes the three namespaces (and with them the veths); never throws. */
  down(): void {
    for (const ns of [this.gnb.netns, this.upfNetns, this.dn.netns]) {
      quietly(() => run('ip', 'netns', 'delete', ns));
    }
    quietly(() => run('ip', 'link', 'delete', this.gnb.iface));
    quietly(() => run('ip', 'link', 'delete', this.n6.iface));
  }
}
