// Bounds-checked reading of one region (a message or an IE body) and a growable writer.
import { PfcpDecodeError, type PfcpDecodeReason } from './errors';
import { ieName } from './types';

export class Reader {
  private pos: number;

  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
    /** The IE whose body this is (named in errors), or undefined for the message itself. */
    readonly ieType: number | undefined,
    private readonly reason: PfcpDecodeReason = 'ie-body-invalid',
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Throws the decode error for this region at the current offset. */
  fail(detail: string): never {
    const ie = this.ieType === undefined ? undefined : { type: this.ieType, name: ieName(this.ieType) };
    throw new PfcpDecodeError(this.reason, this.pos, detail, ie);
  }

  private need(n: number, what: string): number {
    if (this.end - this.pos < n) this.fail(`${what} needs ${n} bytes, ${this.end - this.pos} left`);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    return this.buf[this.need(1, what)] as number;
  }

  u16(what: string): number {
    const at = this.need(2, what);
    return ((this.buf[at] as number) << 8) | (this.buf[at + 1] as number);
  }

  u24(what: string): number {
    const at = this.need(3, what);
    return ((this.buf[at] as number) << 16) | ((this.buf[at + 1] as number) << 8) | (this.buf[at + 2] as number);
  }

  u32(what: string): number {
    const at = this.need(4, what);
    return (
      ((this.buf[at] as number) * 0x1000000 +
        (((this.buf[at + 1] as number) << 16) | ((this.buf[at + 2] as number) << 8) | (this.buf[at + 3] as number)))
    );
  }

  /** 40-bit unsigned (MBR/GBR, kbps): exact in a double. */
  u40(what: string): number {
    const hi = this.u8(what);
    return hi * 0x100000000 + this.u32(what);
  }

  u64(what: string): bigint {
    const hi = this.u32(what);
    return (BigInt(hi) << 32n) | BigInt(this.u32(what));
  }

  bytes(n: number, what: string): Uint8Array {
    const at = this.need(n, what);
    return copyOut(this.buf, at, at + n);
  }

  rest(): Uint8Array {
    return this.bytes(this.remaining, 'rest');
  }

  ipv4(what: string): string {
    return Array.from(this.bytes(4, what)).join('.');
  }

  ipv6(what: string): string {
    return formatIpv6(this.bytes(16, what));
  }
}

/** A plain Uint8Array copy (not a Buffer view, whatever the input was): decoded messages keep no
 * reference to the datagram. */
export function copyOut(buf: Uint8Array, start: number, end: number): Uint8Array {
  return new Uint8Array(buf.subarray(start, end));
}

export class Writer {
  private buf = new Uint8Array(256);
  private len = 0;

  get length(): number {
    return this.len;
  }

  private room(n: number): number {
    if (this.len + n > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
      grown.set(this.buf.subarray(0, this.len));
      this.buf = grown;
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  u8(v: number): void {
    checkUint(v, 8);
    const at = this.room(1); // before reading this.buf: room() may replace it
    this.buf[at] = v;
  }

  u16(v: number): void {
    checkUint(v, 16);
    const at = this.room(2);
    this.buf[at] = v >>> 8;
    this.buf[at + 1] = v & 0xff;
  }

  u24(v: number): void {
    checkUint(v, 24);
    const at = this.room(3);
    this.buf[at] = v >>> 16;
    this.buf[at + 1] = (v >>> 8) & 0xff;
    this.buf[at + 2] = v & 0xff;
  }

  u32(v: number): void {
    checkUint(v, 32);
    const at = this.room(4);
    this.buf[at] = v >>> 24;
    this.buf[at + 1] = (v >>> 16) & 0xff;
    this.buf[at + 2] = (v >>> 8) & 0xff;
    this.buf[at + 3] = v & 0xff;
  }

  u40(v: number): void {
    checkUint(v, 40);
    this.u8(Math.floor(v / 0x100000000));
    this.u32(v % 0x100000000);
  }

  u64(v: bigint): void {
    if (v < 0n || v > 0xffffffffffffffffn) throw new RangeError(`${v} is not a 64-bit unsigned integer`);
    this.u32(Number(v >> 32n));
    this.u32(Number(v & 0xffffffffn));
  }

  bytes(b: Uint8Array): void {
    const at = this.room(b.length);
    this.buf.set(b, at);
  }

  ipv4(text: string): void {
    this.bytes(parseIpv4(text));
  }

  ipv6(text: string): void {
    this.bytes(parseIpv6(text));
  }

  /** Overwrites a 16-bit field written earlier (a length known only after its body). */
  patchU16(at: number, v: number): void {
    checkUint(v, 16);
    this.buf[at] = v >>> 8;
    this.buf[at + 1] = v & 0xff;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function checkUint(v: number, bits: number): void {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) throw new RangeError(`${v} is not a ${bits}-bit unsigned integer`);
}

export function parseIpv4(text: string): Uint8Array {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) {
    throw new RangeError(`${JSON.stringify(text)} is not an IPv4 address`);
  }
  return Uint8Array.from(parts.map(Number));
}

export function parseIpv6(text: string): Uint8Array {
  const bad = (): never => {
    throw new RangeError(`${JSON.stringify(text)} is not an IPv6 address`);
  };
  const halves = text.split('::');
  if (halves.length > 2) bad();
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const head = groups(halves[0] as string);
  const tail = halves.length === 2 ? groups(halves[1] as string) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) bad();
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) bad();
    const v = parseInt(g, 16);
    out[2 * i] = v >>> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** RFC 5952 text (longest run of two or more zero groups as ::, lowercase). */
export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] as number) << 8) | (b[i + 1] as number));
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}
