// The UPF application: from a validated UPF config, the shared-memory rules region and the data
// plane running the GTP-U plugin (UpfDataplane), and the control side that writes the region:
// the kernel's next hops and (when configured) the PFCP node (UpfControl). `fastlane upf run`
// runs the two in separate processes (supervisor.ts); Upf runs both in one. Each is started in an
// order that never leaves half of it running: each step is undone, newest first, when a later one
// fails, and stop() undoes them all.

import * as fs from 'node:fs';
import * as path from 'node:path';

import { Dataplane, NeighbourWatcher, type FastlaneConfig } from 'fastlane-dataplane';

import { capacityOf, deriveFastlaneConfig, N3_PORT, N6_PORT, parseCidr, type UpfConfig } from './config';
import { DEFAULT_GATEWAY_KEYS, NextHops, type NextHopTable } from './neighbours';
import type { UpfCapacities } from './sessions/region';
import type { SessionModification, SessionRules, UpfSessions, Usage } from './sessions/types';

/** The repository (or installed package) root: three levels above src/ and dist/. */
const ROOT = path.join(__dirname, '..', '..', '..');
/** The GTP-U plugin's file name, as cargo builds it (crate `upf-fastpath`). */
export const PLUGIN_FILE = 'libupf_fastpath.so';

/**
 * The GTP-U plugin: `$FASTLANE_UPF_PLUGIN`, else cargo's release build, else its debug build;
 * throws saying how to build it.
 */
export function findPlugin(): string {
  const fromEnv = process.env.FASTLANE_UPF_PLUGIN;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!fs.existsSync(fromEnv)) {
      throw new Error(`FASTLANE_UPF_PLUGIN=${fromEnv}: no such file`);
    }
    return path.resolve(fromEnv);
  }
  const candidates = ['release', 'debug'].map((profile) => path.join(ROOT, 'target', profile, PLUGIN_FILE));
  const found = candidates.find((file) => fs.existsSync(file));
  if (found === undefined) {
    throw new Error(
      `the UPF's GTP-U plugin is not built (looked for ${candidates.join(', ')}): ` +
        'run `cargo build --release -p upf-fastpath`, or set FASTLANE_UPF_PLUGIN',
    );
  }
  return found;
}

/** What the rules' shared-memory region gives the application. */
export interface UserPlane {
  sessions: UpfSessions;
  nextHops: NextHopTable;
  /** Detaches from the region and removes it. */
  close(): void;
}

/** Creates the rules' region `name` sized for `capacities`. */
export type UserPlaneFactory = (name: string, capacities: UpfCapacities) => UserPlane;

/** Events each fast-path thread's channel holds before the fast path drops (and counts) them. */
const EVENT_CAPACITY = 4096;

/**
 * The region's capacities: the config's tables, and one event channel per instance of the plugin
 * (one per data-plane thread that runs the pipeline: a queue core, or a master-worker worker).
 */
export function regionCapacities(config: UpfConfig): UpfCapacities {
  const threads = config.threads;
  const instances =
    threads?.model === 'master_worker'
      ? (threads.worker_cores ?? []).length
      : new Set([...config.upf.n3.queues, ...config.upf.n6.queues].map((q) => q.core)).size;
  return { ...capacityOf(config), event_channels: Math.max(1, instances), event_capacity: EVENT_CAPACITY };
}

/** A running PFCP node. */
export interface PfcpNodeHandle {
  /** The NTP-seconds Recovery Time Stamp it advertises. */
  readonly recoveryTimeStamp: number;
  /** Whether it took over the state a previous run of it left in the region. */
  readonly stateKept: boolean;
  stop(): void | Promise<void>;
}

/** Starts the PFCP node on the sessions of the rules' region `region`. */
export type PfcpNodeFactory = (config: UpfConfig, sessions: UpfSessions, region: string) => PfcpNodeHandle | Promise<PfcpNodeHandle>;

export interface UpfOptions {
  /** Creates the rules' region and its sessions (the data plane's side owns it). */
  userPlane: UserPlaneFactory;
  /** Attaches to the rules' region another process created (the control process's side). */
  attachUserPlane?: UserPlaneFactory;
  /** The PFCP node, started when the config has `upf.pfcp`. */
  pfcpNode?: PfcpNodeFactory;
  /** The plugin's path; default findPlugin(). */
  pluginPath?: string;
}

/** Runs `steps` newest first, going on past one that fails: everything else must still be undone. */
async function undoAll(steps: Array<() => void | Promise<void>>): Promise<void> {
  for (const step of steps.splice(0).reverse()) {
    try {
      await step();
    } catch {
      // The rest must still go.
    }
  }
}

/** The kernel's name for a port's interface: DPDK's TAP twin (default name), else the interface. */
function kernelInterface(config: UpfConfig, iface: string): string {
  return config.backend === 'dpdk' ? `fl-${iface}`.slice(0, 15) : iface;
}

/** The default routes through N3 or N6, with the TAP twin each moves to on DPDK. */
function movedDefaultRoutes(watcher: NeighbourWatcher, config: UpfConfig): Array<{ gateway: string; index: number; tap: string }> {
  const sides = [config.upf.n3.interface, config.upf.n6.interface].map((name) => ({
    index: watcher.interfaceIndex(name),
    tap: kernelInterface(config, name),
  }));
  const out: Array<{ gateway: string; index: number; tap: string }> = [];
  for (const route of watcher.defaultRoutes()) {
    const side = sides.find((s) => s.index === route.index);
    if (side !== undefined && route.gateway !== undefined && route.gateway !== null) {
      out.push({ gateway: route.gateway, index: route.index, tap: side.tap });
    }
  }
  return out;
}

/** The plugin stage's config (apps/upf/fastpath reads it). */
function pluginConfig(
  config: UpfConfig,
  region: string,
  capacity: UpfCapacities,
  macs: { n3: string; n6: string },
): Record<string, unknown> {
  const n3: Record<string, string> = {};
  for (const text of config.upf.n3.addresses) {
    const cidr = parseCidr(text);
    if (cidr !== undefined) {
      n3[cidr.family === 4 ? 'ipv4' : 'ipv6'] = cidr.address;
    }
  }
  return { region, capacities: capacity, n3, n3_port: N3_PORT, n6_port: N6_PORT, n3_mac: macs.n3, n6_mac: macs.n6 };
}

/** The F-TEID addresses a session's FARs send to (each counted once per FAR). */
function peersOf(rules: SessionRules | undefined): string[] {
  const peers: string[] = [];
  for (const far of rules?.fars ?? []) {
    const ohc = far.forwardingParameters?.outerHeaderCreation;
    if (ohc?.ipv4 !== undefined) {
      peers.push(ohc.ipv4);
    }
    if (ohc?.ipv6 !== undefined) {
      peers.push(ohc.ipv6);
    }
  }
  return peers;
}

/**
 * The sessions as the application hands them out: every change is the user plane's, and the gNB
 * addresses its FARs send to are kept resolved in the next-hop table.
 */
class ResolvingSessions implements UpfSessions {
  constructor(
    readonly inner: UpfSessions,
    readonly nextHops: NextHops,
  ) {}

  create(seid: bigint, rules: SessionRules): void {
    this.inner.create(seid, rules);
    peersOf(this.inner.get(seid)).forEach((p) => this.nextHops.want(p));
  }

  modify(seid: bigint, change: SessionModification): void {
    const before = peersOf(this.inner.get(seid));
    this.inner.modify(seid, change);
    peersOf(this.inner.get(seid)).forEach((p) => this.nextHops.want(p));
    before.forEach((p) => this.nextHops.release(p));
  }

  delete(seid: bigint): Usage[] {
    const before = peersOf(this.inner.get(seid));
    const usage = this.inner.delete(seid);
    before.forEach((p) => this.nextHops.release(p));
    return usage;
  }

  get(seid: bigint): SessionRules | undefined {
    return this.inner.get(seid);
  }

  entries(): IterableIterator<[bigint, SessionRules]> {
    return this.inner.entries();
  }

  get size(): number {
    return this.inner.size;
  }

  usage(seid: bigint): ReturnType<UpfSessions['usage']> {
    return this.inner.usage(seid);
  }

  events(max?: number): ReturnType<UpfSessions['events']> {
    return max === undefined ? this.inner.events() : this.inner.events(max);
  }
}

/**
 * The data plane's side of a UPF: the rules' region (which it creates and removes), the data
 * plane running the GTP-U plugin on it, and DPDK's default routes moved to the TAP twins. It
 * forwards by whatever the region holds, whether or not a control side is writing it.
 */
export class UpfDataplane {
  private constructor(
    readonly config: UpfConfig,
    /** The Fastlane config the data plane runs. */
    readonly fastlaneConfig: FastlaneConfig,
    readonly region: string,
    readonly dataplane: Dataplane,
    /** The region's sessions and next hops, for a control side in this process. */
    readonly userPlane: UserPlane,
    private readonly undo: Array<() => void | Promise<void>>,
  ) {}

  /**
   * Starts the data plane of a validated config; on failure removes what it made and throws.
   * The config's namespace (if any) must exist, with the N3 and N6 interfaces in it.
   */
  static async start(config: UpfConfig, options: UpfOptions): Promise<UpfDataplane> {
    const undo: Array<() => void | Promise<void>> = [];
    try {
      const pluginPath = options.pluginPath ?? findPlugin();
      const capacity = regionCapacities(config);
      const region = config.upf.region ?? `fastlane-upf-${process.pid}`;

      const userPlane = options.userPlane(region, capacity);
      undo.push(() => userPlane.close());

      // The watcher's sockets live in the UPF's namespace: the ports' MACs are read through it
      // (a DPDK port over a kernel interface keeps the interface's MAC, and its TAP twin too).
      const watcher = new NeighbourWatcher(config.netns);
      undo.push(() => watcher.stop());
      const macs = { n3: watcher.hwAddress(config.upf.n3.interface), n6: watcher.hwAddress(config.upf.n6.interface) };
      const fastlaneConfig = deriveFastlaneConfig(config, { path: pluginPath, config: pluginConfig(config, region, capacity, macs) });

      // DPDK's TAP twin takes the interface's addresses for the run, and the kernel drops the
      // routes through gateways on them (the framework does not put them back): the default
      // routes move to the TAP with the address, and back when the address is given back.
      const moved = config.backend === 'dpdk' ? movedDefaultRoutes(watcher, config) : [];
      undo.push(() => moved.forEach((r) => watcher.replaceDefaultRoute(r.gateway, r.index)));

      const dataplane = new Dataplane(fastlaneConfig);
      dataplane.start();
      undo.push(() => dataplane.stop());
      for (const r of moved) {
        watcher.replaceDefaultRoute(r.gateway, watcher.interfaceIndex(r.tap));
      }
      return new UpfDataplane(config, fastlaneConfig, region, dataplane, userPlane, undo);
    } catch (e) {
      await undoAll(undo);
      throw e;
    }
  }

  /** Stops the data plane and removes the region; idempotent. */
  async stop(): Promise<void> {
    await undoAll(this.undo);
  }
}

/**
 * The control side of a UPF: whatever writes the rules' region. The kernel's next hops for the
 * default gateways and for every gNB a FAR sends to (including the sessions already in the
 * region, which a restarted control side takes over), and the PFCP node when configured.
 */
export class UpfControl {
  private constructor(
    readonly sessions: UpfSessions,
    readonly nextHops: NextHops,
    readonly pfcp: PfcpNodeHandle | undefined,
    private readonly undo: Array<() => void | Promise<void>>,
  ) {}

  /**
   * Starts on `userPlane` (the region `region` of a running data plane); on failure undoes what
   * it started and throws. Stopping leaves the region and its sessions as they are.
   */
  static async start(config: UpfConfig, region: string, userPlane: UserPlane, options: UpfOptions): Promise<UpfControl> {
    const undo: Array<() => void | Promise<void>> = [];
    try {
      const watcher = new NeighbourWatcher(config.netns);
      undo.push(() => watcher.stop());
      // After the data plane: DPDK's TAP twins, which hold the kernel's side, exist only then.
      const nextHops = new NextHops(watcher, userPlane.nextHops, [
        { port: N3_PORT, kernelInterface: kernelInterface(config, config.upf.n3.interface) },
        { port: N6_PORT, kernelInterface: kernelInterface(config, config.upf.n6.interface) },
      ]);
      undo.push(() => nextHops.stop());
      for (const key of DEFAULT_GATEWAY_KEYS) {
        const family = key === '::' ? 6 : 4;
        if ((config.upf.n6.addresses ?? []).some((a) => parseCidr(a)?.family === family)) {
          nextHops.want(key);
        }
      }
      for (const [, rules] of userPlane.sessions.entries()) {
        peersOf(rules).forEach((p) => nextHops.want(p));
      }

      const sessions = new ResolvingSessions(userPlane.sessions, nextHops);
      let pfcp: PfcpNodeHandle | undefined;
      if (config.upf.pfcp !== undefined && options.pfcpNode !== undefined) {
        pfcp = await options.pfcpNode(config, sessions, region);
        const node = pfcp;
        undo.push(() => node.stop());
      }
      return new UpfControl(sessions, nextHops, pfcp, undo);
    } catch (e) {
      await undoAll(undo);
      throw e;
    }
  }

  /** Stops the PFCP node and the next-hop writer; idempotent. */
  async stop(): Promise<void> {
    await undoAll(this.undo);
  }
}

/** A whole UPF in one process: the data plane's side and the control side over its region. */
export class Upf {
  private constructor(
    readonly data: UpfDataplane,
    readonly control: UpfControl,
  ) {}

  get config(): UpfConfig {
    return this.data.config;
  }

  get fastlaneConfig(): FastlaneConfig {
    return this.data.fastlaneConfig;
  }

  get region(): string {
    return this.data.region;
  }

  get dataplane(): Dataplane {
    return this.data.dataplane;
  }

  get sessions(): UpfSessions {
    return this.control.sessions;
  }

  get nextHops(): NextHops {
    return this.control.nextHops;
  }

  get pfcp(): PfcpNodeHandle | undefined {
    return this.control.pfcp;
  }

  /**
   * Starts the UPF of a validated config; on failure removes what it made and throws. The
   * config's namespace (if any) must exist, with the N3 and N6 interfaces in it.
   */
  static async start(config: UpfConfig, options: UpfOptions): Promise<Upf> {
    const data = await UpfDataplane.start(config, options);
    try {
      return new Upf(data, await UpfControl.start(config, data.region, data.userPlane, options));
    } catch (e) {
      await data.stop();
      throw e;
    }
  }

  /** Stops the control side and the data plane, and removes the region; idempotent. */
  async stop(): Promise<void> {
    await this.control.stop();
    await this.data.stop();
  }
}
