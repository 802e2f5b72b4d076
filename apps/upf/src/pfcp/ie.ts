// IE framing (TS 29.244 clause 8.1.1): type (2 octets), length (2 octets, the body's), body.
// Grouped IEs nest IEs; enterprise IEs (type >= 32768) start with an Enterprise ID and are kept
// as data; IEs of any type this codec has no layout for are kept raw, so they can be ignored or
// sent on unchanged.
import { Reader, Writer, copyOut } from './bytes';
import { PfcpDecodeError } from './errors';
import { ieName, isEnterpriseIeType, isGroupedIeType } from './types';
import { type IeValues, type TypedIeType, typedCodec } from './values';

export type GroupedIe = { kind: 'grouped'; type: number; ies: Ie[] };
export type ValueIe<T extends TypedIeType = TypedIeType> = {
  kind: 'value';
  type: T;
  value: IeValues[T];
  /** Octets after the fields this codec knows (a later release's additions), kept verbatim. */
  extra?: Uint8Array;
};
export type RawIe = { kind: 'raw'; type: number; data: Uint8Array };
export type EnterpriseIe = { kind: 'enterprise'; type: number; enterpriseId: number; data: Uint8Array };
export type Ie = GroupedIe | ValueIe | RawIe | EnterpriseIe;

export interface DecodeLimits {
  /** Deepest grouped-IE nesting accepted (Create PDR > PDI > ... is 3 in practice). */
  maxDepth: number;
}

/** A typed IE from its value (encode side). */
export function ie<T extends TypedIeType>(type: T, value: IeValues[T]): ValueIe<T> {
  return { kind: 'value', type, value };
}

export function group(type: number, ies: Ie[]): GroupedIe {
  if (!isGroupedIeType(type)) throw new RangeError(`IE type ${type} (${ieName(type)}) is not a grouped IE`);
  return { kind: 'grouped', type, ies };
}

/** The first IE of a type, or undefined. */
export function findIe(ies: readonly Ie[], type: number): Ie | undefined {
  return ies.find((x) => x.type === type);
}

export function findAll(ies: readonly Ie[], type: number): Ie[] {
  return ies.filter((x) => x.type === type);
}

function isValueIe<T extends TypedIeType>(x: Ie, type: T): x is ValueIe<T> {
  return x.kind === 'value' && x.type === type;
}

/** The value of the first typed IE of a type. */
export function getValue<T extends TypedIeType>(ies: readonly Ie[], type: T): IeValues[T] | undefined {
  for (const x of ies) if (isValueIe(x, type)) return x.value;
  return undefined;
}

export function getAllValues<T extends TypedIeType>(ies: readonly Ie[], type: T): IeValues[T][] {
  const out: IeValues[T][] = [];
  for (const x of ies) if (isValueIe(x, type)) out.push(x.value);
  return out;
}

/** The children of every grouped IE of a type (e.g. every Create PDR). */
export function getGroups(ies: readonly Ie[], type: number): Ie[][] {
  const out: Ie[][] = [];
  for (const x of ies) if (x.kind === 'grouped' && x.type === type) out.push(x.ies);
  return out;
}

/** Decodes the IEs in buf[start, end); `parent` is the grouped IE they belong to, if any. */
export function decodeIes(
  buf: Uint8Array,
  start: number,
  end: number,
  depth: number,
  limits: DecodeLimits,
  parent: number | undefined,
): Ie[] {
  const out: Ie[] = [];
  let pos = start;
  while (pos < end) {
    if (end - pos < 4) {
      const reason = parent === undefined ? 'ie-length-past-parent' : 'bad-grouped-nesting';
      const named = parent ?? (end - pos >= 2 ? ((buf[pos] as number) << 8) | (buf[pos + 1] as number) : undefined);
      throw new PfcpDecodeError(
        reason,
        pos,
        `${end - pos} bytes left, an IE header needs 4`,
        named === undefined ? undefined : { type: named, name: ieName(named) },
      );
    }
    const type = ((buf[pos] as number) << 8) | (buf[pos + 1] as number);
    const length = ((buf[pos + 2] as number) << 8) | (buf[pos + 3] as number);
    const bodyStart = pos + 4;
    const bodyEnd = bodyStart + length;
    const named = { type, name: ieName(type) };
    if (bodyEnd > end) {
      throw new PfcpDecodeError(
        'ie-length-past-parent',
        pos + 2,
        `length ${length} runs ${bodyEnd - end} bytes past the end of its ${parent === undefined ? 'message' : `parent IE ${parent} (${ieName(parent)})`}`,
        named,
      );
    }
    out.push(decodeOne(buf, type, bodyStart, bodyEnd, depth, limits));
    pos = bodyEnd;
  }
  return out;
}

function decodeOne(buf: Uint8Array, type: number, start: number, end: number, depth: number, limits: DecodeLimits): Ie {
  if (isEnterpriseIeType(type)) {
    const r = new Reader(buf, start, end, type);
    return { kind: 'enterprise', type, enterpriseId: r.u16('Enterprise ID'), data: r.rest() };
  }
  if (isGroupedIeType(type)) {
    if (depth >= limits.maxDepth) {
      throw new PfcpDecodeError('nesting-too-deep', start - 4, `grouped IEs nest deeper than ${limits.maxDepth}`, {
        type,
        name: ieName(type),
      });
    }
    return { kind: 'grouped', type, ies: decodeIes(buf, start, end, depth + 1, limits, type) };
  }
  const codec = typedCodec(type);
  if (!codec) return { kind: 'raw', type, data: copyOut(buf, start, end) };
  const r = new Reader(buf, start, end, type);
  const decoded = { kind: 'value', type, value: codec.decode(r) } as ValueIe;
  if (r.remaining > 0) decoded.extra = r.rest();
  return decoded;
}

export function encodeIes(w: Writer, ies: readonly Ie[]): void {
  for (const x of ies) encodeIe(w, x);
}

function encodeIe(w: Writer, x: Ie): void {
  w.u16(x.type);
  const lengthAt = w.length;
  w.u16(0);
  switch (x.kind) {
    case 'grouped':
      encodeIes(w, x.ies);
      break;
    case 'value': {
      const codec = typedCodec(x.type);
      if (!codec) throw new RangeError(`IE type ${x.type} has no typed layout; encode it as raw`);
      codec.encode(w, x.value);
      if (x.extra) w.bytes(x.extra);
      break;
    }
    case 'raw':
      w.bytes(x.data);
      break;
    case 'enterprise':
      if (!isEnterpriseIeType(x.type)) throw new RangeError(`enterprise IE type ${x.type} is below 32768`);
      w.u16(x.enterpriseId);
      w.bytes(x.data);
      break;
  }
  const length = w.length - lengthAt - 2;
  if (length > 0xffff) throw new RangeError(`IE ${x.type} (${ieName(x.type)}) body is ${length} bytes, over 65535`);
  w.patchU16(lengthAt, length);
}

export function encodeIeList(ies: readonly Ie[]): Uint8Array {
  const w = new Writer();
  encodeIes(w, ies);
  return w.finish();
}
