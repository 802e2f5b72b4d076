// PFCP message header (TS 29.244 clause 7.2.2) and messages = header + IEs.
// Octet 1: version (bits 8-6), spare, FO (bit 3), MP (bit 2), S (bit 1); message type; length
// (octets after the first 4); SEID when S=1; 24-bit sequence number; message priority in the upper
// 4 bits of the last header octet when MP=1.
import { Reader, Writer, copyOut } from './bytes';
import { PfcpDecodeError } from './errors';
import { type DecodeLimits, type Ie, decodeIes, encodeIes } from './ie';
import { messageName } from './types';

export interface PfcpMessage {
  type: number;
  sequence: number;
  /** Present exactly when the S flag is set (session-related messages). */
  seid?: bigint;
  /** Present exactly when the MP flag is set. */
  priority?: number;
  /** FO: another message follows in the same datagram. */
  followOn?: boolean;
  ies: Ie[];
  /** The body of a message type this codec does not know, kept verbatim (ies is then empty). */
  raw?: Uint8Array;
}

export interface DecodeOptions extends DecodeLimits {
  /** Largest message accepted, in bytes including the header. */
  maxMessageBytes: number;
}

export const defaultDecodeOptions: DecodeOptions = { maxMessageBytes: 65535, maxDepth: 8 };

/** Decodes one message that fills `buf` (or is followed by others when FO is set: see
 * decodeDatagram). Throws only PfcpDecodeError. */
export function decodeMessage(buf: Uint8Array, options: Partial<DecodeOptions> = {}): PfcpMessage {
  const { message, end } = decodeAt(buf, 0, { ...defaultDecodeOptions, ...options });
  if (end !== buf.length && !message.followOn) {
    throw new PfcpDecodeError('invalid-message-length', 2, `length says ${end} bytes, the datagram has ${buf.length}`);
  }
  return message;
}

/** Every message of a datagram (messages after the first follow FO flags). */
export function decodeDatagram(buf: Uint8Array, options: Partial<DecodeOptions> = {}): PfcpMessage[] {
  const opts = { ...defaultDecodeOptions, ...options };
  const out: PfcpMessage[] = [];
  let pos = 0;
  for (;;) {
    const { message, end } = decodeAt(buf, pos, opts);
    out.push(message);
    pos = end;
    if (!message.followOn || pos === buf.length) break;
  }
  if (pos !== buf.length) {
    throw new PfcpDecodeError('invalid-message-length', pos, `${buf.length - pos} bytes after the last message`);
  }
  return out;
}

function decodeAt(buf: Uint8Array, start: number, opts: DecodeOptions): { message: PfcpMessage; end: number } {
  // Offsets in errors are relative to the datagram; `header` bounds the fixed header.
  const avail = buf.length - start;
  if (avail < 4) throw new PfcpDecodeError('truncated-header', buf.length, `${avail} bytes, a header needs at least 8`);
  const flags = buf[start] as number;
  const version = flags >> 5;
  if (version !== 1) throw new PfcpDecodeError('unsupported-version', start, `version ${version}, only 1 is supported`);
  const s = (flags & 1) !== 0;
  const mp = (flags & 2) !== 0;
  const fo = (flags & 4) !== 0;
  const headerBytes = s ? 16 : 8;
  const length = ((buf[start + 2] as number) << 8) | (buf[start + 3] as number);
  const total = length + 4;
  if (total > opts.maxMessageBytes) {
    throw new PfcpDecodeError('message-too-large', start + 2, `${total} bytes, the maximum is ${opts.maxMessageBytes}`);
  }
  if (total < headerBytes) {
    throw new PfcpDecodeError(
      'invalid-message-length',
      start + 2,
      `length ${length} is shorter than the ${headerBytes - 4} header octets S=${s ? 1 : 0} implies`,
    );
  }
  if (avail < headerBytes) {
    throw new PfcpDecodeError('truncated-header', buf.length, `${avail} bytes, an S=${s ? 1 : 0} header needs ${headerBytes}`);
  }
  if (total > avail) {
    throw new PfcpDecodeError('invalid-message-length', start + 2, `length ${length} runs ${total - avail} bytes past the datagram`);
  }
  const r = new Reader(buf, start + 4, start + total, undefined, 'invalid-message-length');
  const message: PfcpMessage = { type: buf[start + 1] as number, sequence: 0, ies: [] };
  if (s) message.seid = r.u64('SEID');
  message.sequence = r.u24('sequence number');
  const last = r.u8('spare');
  if (mp) message.priority = last >> 4;
  if (fo) message.followOn = true;
  const end = start + total;
  if (messageName(message.type) === undefined) message.raw = copyOut(buf, r.offset, end);
  else message.ies = decodeIes(buf, r.offset, end, 0, opts, undefined);
  return { message, end };
}

/** Encodes one message; the lengths (header and every IE) are computed here. */
export function encodeMessage(m: PfcpMessage): Uint8Array {
  const w = new Writer();
  const s = m.seid !== undefined;
  const mp = m.priority !== undefined;
  w.u8((1 << 5) | (m.followOn ? 4 : 0) | (mp ? 2 : 0) | (s ? 1 : 0));
  w.u8(m.type);
  w.u16(0);
  if (m.seid !== undefined) w.u64(m.seid);
  w.u24(m.sequence);
  if (m.priority !== undefined && (m.priority < 0 || m.priority > 15 || !Number.isInteger(m.priority))) {
    throw new RangeError(`message priority ${m.priority} is not 0-15`);
  }
  w.u8(mp ? (m.priority as number) << 4 : 0);
  if (m.raw) w.bytes(m.raw);
  else encodeIes(w, m.ies);
  const length = w.length - 4;
  if (length > 0xffff) throw new RangeError(`message body is ${length} bytes, over 65535`);
  w.patchU16(2, length);
  return w.finish();
}
