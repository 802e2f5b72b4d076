// What the UP function allocates for the SMF (TS 29.244 clause 5.5: CHOOSE F-TEIDs, clause 5.21:
// CHV4/CHV6 UE addresses) and the local SEIDs. None of it is stored on its own: after a restart
// every allocation is found again in the sessions' rules (UpfSessions.entries()), so what is
// allocated can never disagree with what the user plane forwards by.
import { formatIpv6, parseIpv4, parseIpv6 } from '../pfcp/bytes';

export class AllocationError extends Error {
  override readonly name = 'AllocationError';
  constructor(
    readonly kind: 'exhausted' | 'conflict',
    message: string,
  ) {
    super(message);
  }
}

/** TEIDs of the N3/N9 F-TEIDs, each owned by one session (several PDRs of it may share one). */
export class TeidAllocator {
  readonly #owner = new Map<number, bigint>();
  #next: number;

  constructor(
    private readonly first = 1,
    private readonly last = 0xffffffff,
  ) {
    if (!(first >= 1 && last <= 0xffffffff && first <= last)) throw new RangeError(`TEID range ${first}-${last} is not within 1-2^32-1`);
    this.#next = first;
  }

  get size(): number {
    return this.#owner.size;
  }

  owner(teid: number): bigint | undefined {
    return this.#owner.get(teid);
  }

  allocate(seid: bigint): number {
    const span = this.last - this.first + 1;
    if (this.#owner.size >= span) throw new AllocationError('exhausted', `all ${span} TEIDs are in use`);
    for (;;) {
      const teid = this.#next;
      this.#next = teid === this.last ? this.first : teid + 1;
      if (!this.#owner.has(teid)) {
        this.#owner.set(teid, seid);
        return teid;
      }
    }
  }

  /** Claims a TEID the SMF chose; refuses one another session holds. */
  claim(seid: bigint, teid: number): void {
    const held = this.#owner.get(teid);
    if (held !== undefined && held !== seid) throw new AllocationError('conflict', `TEID ${teid} belongs to session ${held}`);
    this.#owner.set(teid, seid);
  }

  release(teid: number, seid: bigint): void {
    if (this.#owner.get(teid) === seid) this.#owner.delete(teid);
  }
}

/** One pool of UE addresses: IPv4 addresses, or IPv6 prefixes of `prefixLength` bits. */
interface Pool {
  family: 4 | 6;
  networkInstance: string | undefined;
  /** First and last allocatable unit (address or prefix index), as bigint. */
  base: bigint;
  count: bigint;
  /** Bits below each unit: 0 for IPv4, 128 - prefixLength for IPv6. */
  shift: bigint;
  prefixLength: number;
  next: bigint;
  owner: Map<bigint, bigint>;
}

export interface UePoolConfig {
  /** `10.45.0.0/16` (addresses) or `2001:db8:1::/48` (prefixes of `prefixLength` bits for UEs). */
  prefix: string;
  /** IPv6 only: length of each UE's prefix (default 64). */
  prefixLength?: number;
  /** Pool for PDRs of this network instance (DNN); a pool without one serves any. */
  networkInstance?: string;
}

export interface UeAddress {
  ipv4?: string;
  /** The UE's IPv6 prefix as `addr/len`. */
  ipv6Prefix?: string;
}

function toBig(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function fromBig(v: bigint, octets: number): Uint8Array {
  const out = new Uint8Array(octets);
  for (let i = octets - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function formatUnit(pool: { family: 4 | 6; shift: bigint; prefixLength: number }, unit: bigint): string {
  if (pool.family === 4) return Array.from(fromBig(unit, 4)).join('.');
  return `${formatIpv6(fromBig(unit << pool.shift, 16))}/${pool.prefixLength}`;
}

/** UE IPv4 addresses and IPv6 prefixes from the configured pools, one of each per session. */
export class UeAddressAllocator {
  readonly #pools: Pool[];

  constructor(configs: readonly UePoolConfig[]) {
    this.#pools = configs.map((c) => {
      const [addr, lenText] = c.prefix.split('/');
      const len = Number(lenText);
      const v6 = (addr ?? '').includes(':');
      const bits = v6 ? 128 : 32;
      if (addr === undefined || !Number.isInteger(len) || len < 0 || len > bits) throw new RangeError(`UE pool ${JSON.stringify(c.prefix)} is not addr/len`);
      const value = toBig(v6 ? parseIpv6(addr) : parseIpv4(addr));
      const unitLength = v6 ? (c.prefixLength ?? 64) : 32;
      if (unitLength < len || unitLength > bits) throw new RangeError(`UE pool ${c.prefix}: prefix length ${unitLength} is not ${len}-${bits}`);
      const shift = BigInt(bits - unitLength);
      const hostBits = BigInt(unitLength - len);
      if ((value & ((1n << BigInt(bits - len)) - 1n)) !== 0n) throw new RangeError(`UE pool ${c.prefix} has host bits set`);
      let base = value >> shift;
      let count = 1n << hostBits;
      // An IPv4 pool wider than /31 leaves out its network and broadcast addresses.
      if (!v6 && hostBits >= 2n) {
        base += 1n;
        count -= 2n;
      }
      return {
        family: v6 ? 6 : 4,
        networkInstance: c.networkInstance,
        base,
        count,
        shift,
        prefixLength: unitLength,
        next: base,
        owner: new Map(),
      } satisfies Pool;
    });
  }

  /** Whether some pool of this family serves the network instance (CHV4/CHV6 can be honoured). */
  serves(family: 4 | 6, networkInstance: string | undefined): boolean {
    return this.#pool(family, networkInstance) !== undefined;
  }

  #pool(family: 4 | 6, networkInstance: string | undefined): Pool | undefined {
    const ofFamily = this.#pools.filter((p) => p.family === family);
    return ofFamily.find((p) => p.networkInstance !== undefined && p.networkInstance === networkInstance) ?? ofFamily.find((p) => p.networkInstance === undefined);
  }

  allocate(family: 4 | 6, networkInstance: string | undefined, seid: bigint): string {
    const pool = this.#pool(family, networkInstance);
    if (!pool) throw new AllocationError('exhausted', `no IPv${family} UE pool for network instance ${networkInstance ?? '(none)'}`);
    if (BigInt(pool.owner.size) >= pool.count) throw new AllocationError('exhausted', `the IPv${family} UE pool is used up (${pool.count} addresses)`);
    for (;;) {
      const unit = pool.next;
      pool.next = unit + 1n >= pool.base + pool.count ? pool.base : unit + 1n;
      if (!pool.owner.has(unit)) {
        pool.owner.set(unit, seid);
        return formatUnit(pool, unit);
      }
    }
  }

  /** The pool and unit an address or prefix of a session's rules falls in, if any pool holds it. */
  #locate(text: string): { pool: Pool; unit: bigint } | undefined {
    const [addr] = text.split('/');
    if (addr === undefined) return undefined;
    const v6 = addr.includes(':');
    let value: bigint;
    try {
      value = toBig(v6 ? parseIpv6(addr) : parseIpv4(addr));
    } catch {
      return undefined;
    }
    for (const pool of this.#pools) {
      if (pool.family !== (v6 ? 6 : 4)) continue;
      const unit = value >> pool.shift;
      if (unit >= pool.base && unit < pool.base + pool.count) return { pool, unit };
    }
    return undefined;
  }

  /** Claims an address the SMF chose (or one found after a restart) when a pool holds it. */
  claim(seid: bigint, text: string): void {
    const at = this.#locate(text);
    if (!at) return;
    const held = at.pool.owner.get(at.unit);
    if (held !== undefined && held !== seid) throw new AllocationError('conflict', `UE address ${text} belongs to session ${held}`);
    at.pool.owner.set(at.unit, seid);
  }

  release(text: string, seid: bigint): void {
    const at = this.#locate(text);
    if (at && at.pool.owner.get(at.unit) === seid) at.pool.owner.delete(at.unit);
  }

  get size(): number {
    return this.#pools.reduce((n, p) => n + p.owner.size, 0);
  }
}
