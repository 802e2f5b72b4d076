// A two-namespace test bed: a generator namespace and a forwarder namespace joined by a veth pair,
// built and removed with iproute2. Needs root.

import { execFileSync } from 'node:child_process';

export interface TestbedOptions {
  /** Name prefix, 1 to 12 characters (veth names stay within 15); default from the process id. */
  prefix?: string;
  /** N in 10.77.N.0/24; default from the process id. */
  subnet?: number;
}

export interface TestbedEnd {
  netns: string;
  interface: string;
  /** IPv4 address, without prefix length. */
  address: string;
  mac: string;
}

/** The names a test bed with this prefix uses. */
export function testbedNames(prefix: string): { gen: { netns: string; interface: string }; fwd: { netns: string; interface: string } } {
  return {
    gen: { netns: `${prefix}-gen`, interface: `${prefix}-g0` },
    fwd: { netns: `${prefix}-fwd`, interface: `${prefix}-f0` },
  };
}

export class Testbed {
  private constructor(
    readonly prefix: string,
    /** N in 10.77.N.0/24. */
    readonly subnet: number,
    readonly gen: TestbedEnd,
    readonly fwd: TestbedEnd,
  ) {}

  /**
   * Creates `<prefix>-gen` and `<prefix>-fwd` joined by `<prefix>-g0` (10.77.N.1/24) and
   * `<prefix>-f0` (10.77.N.2/24). Fails if any of these names exists already; on failure removes
   * what this call created and nothing else.
   */
  static up(options: TestbedOptions = {}): Testbed {
    const prefix = options.prefix ?? `fl${process.pid % 100000}`;
    const subnet = options.subnet ?? process.pid % 256;
    if (!/^[A-Za-z0-9_.-]{1,12}$/.test(prefix)) {
      throw new Error(`test bed prefix ${JSON.stringify(prefix)}: use 1 to 12 of A-Z a-z 0-9 _ . -`);
    }
    if (!Number.isInteger(subnet) || subnet < 0 || subnet > 255) {
      throw new Error(`test bed subnet ${subnet}: use an integer from 0 to 255`);
    }
    const { gen, fwd } = testbedNames(prefix);
    const undo: Array<() => void> = [];
    try {
      for (const ns of [gen.netns, fwd.netns]) {
        ip('netns', 'add', ns);
        undo.push(() => quietly(() => ip('netns', 'delete', ns)));
      }
      ip('link', 'add', gen.interface, 'type', 'veth', 'peer', 'name', fwd.interface);
      // Until both ends are moved, the pair lives here; deleting one end deletes both.
      undo.push(() => quietly(() => ip('link', 'delete', gen.interface)));
      const ends: TestbedEnd[] = [];
      for (const [end, host] of [
        [gen, 1],
        [fwd, 2],
      ] as const) {
        const address = `10.77.${subnet}.${host}`;
        ip('link', 'set', end.interface, 'netns', end.netns);
        ip('-n', end.netns, 'addr', 'add', `${address}/24`, 'dev', end.interface);
        ip('-n', end.netns, 'link', 'set', 'lo', 'up');
        ip('-n', end.netns, 'link', 'set', end.interface, 'up');
        // Like a wire: frames carry finished checksums. Over veth the kernel otherwise leaves
        // TCP/UDP checksums to be completed later, which a frame that leaves the kernel through
        // AF_XDP or DPDK never gets; and no IPv6 chatter of the kernel's own muddies the counters.
        execFileSync('ip', ['netns', 'exec', end.netns, 'ethtool', '-K', end.interface, 'tx', 'off'], { stdio: 'ignore' });
        for (const knob of ['all', 'default']) {
          execFileSync('ip', ['netns', 'exec', end.netns, 'sysctl', '-qw', `net.ipv6.conf.${knob}.disable_ipv6=1`]);
        }
        ends.push({ ...end, address, mac: macOf(end.netns, end.interface) });
      }
      const [genEnd, fwdEnd] = ends as [TestbedEnd, TestbedEnd];
      return new Testbed(prefix, subnet, genEnd, fwdEnd);
    } catch (e) {
      for (const step of undo.reverse()) {
        step();
      }
      throw e;
    }
  }

  /** Removes both namespaces (and with them the veth pair); never throws. */
  down(): void {
    Testbed.down(this.prefix);
  }

  /**
   * Removes whatever exists of the test bed with this prefix: both namespaces, and the veth pair if
   * it was left in this namespace. Never throws; a missing piece is not an error.
   */
  static down(prefix: string): void {
    const { gen, fwd } = testbedNames(prefix);
    quietly(() => ip('netns', 'delete', gen.netns));
    quietly(() => ip('netns', 'delete', fwd.netns));
    quietly(() => ip('link', 'delete', gen.interface));
  }

  /** Names of the namespaces that exist now. */
  static namespaces(): string[] {
    return ip('netns', 'list')
      .split('\n')
      .map((line) => line.split(' ')[0] ?? '')
      .filter((name) => name !== '');
  }
}

/** Runs `ip` and returns its output; the error names the command and carries ip's message. */
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

function quietly(step: () => unknown): void {
  try {
    step();
  } catch {
    // Teardown goes on past a piece that is already gone.
  }
}
