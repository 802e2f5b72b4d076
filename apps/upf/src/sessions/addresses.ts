// IP addresses and prefixes as the rules carry them (text) and as the records hold them (bytes in
// network order). Parsing is strict: what does not parse is reported to the caller, which names
// the rule it came from.

/** Four bytes of a dotted-quad IPv4 address, or undefined when `text` is not one. */
export function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) {
    return undefined;
  }
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part) || Number(part) > 255) {
      return undefined;
    }
    out[i] = Number(part);
  }
  return out;
}

/** Sixteen bytes of an IPv6 address (with `::` and a trailing dotted quad allowed). */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text)) {
    return undefined;
  }
  let head = text;
  let tailV4: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (tailV4 === undefined) {
      return undefined;
    }
    head = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) {
    return undefined;
  }
  const groups = (s: string): number[] | undefined => {
    if (s === '') {
      return [];
    }
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) {
        return undefined;
      }
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = groups(halves[0]!);
  const right = halves.length === 2 ? groups(halves[1]!) : [];
  if (left === undefined || right === undefined) {
    return undefined;
  }
  const missing = 8 - left.length - right.length;
  if ((halves.length === 2 && missing < 1) || (halves.length === 1 && missing !== 0)) {
    return undefined;
  }
  const all = [...left, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...right];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (tailV4 !== undefined) {
    out.set(tailV4, 12);
  }
  return out;
}

export function formatIpv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** RFC 5952 text: lower case, the longest run of two or more zero groups as `::`. */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) {
    groups.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  }
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) {
      j++;
    }
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) {
    return hex(groups);
  }
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

export interface Prefix {
  ipv6: boolean;
  /** 4 or 16 bytes. */
  addr: Uint8Array;
  length: number;
}

/** `addr` or `addr/len` of either family; a bare address is a host prefix. */
export function parsePrefix(text: string): Prefix | undefined {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ipv6 = addrText.includes(':');
  const addr = ipv6 ? parseIpv6(addrText) : parseIpv4(addrText);
  if (addr === undefined) {
    return undefined;
  }
  const max = ipv6 ? 128 : 32;
  let length = max;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > max) {
      return undefined;
    }
    length = Number(lenText);
  }
  return { ipv6, addr, length };
}

export function formatPrefix(prefix: Prefix, bare = false): string {
  const text = prefix.ipv6 ? formatIpv6(prefix.addr) : formatIpv4(prefix.addr);
  return bare ? text : `${text}/${prefix.length}`;
}

/** Six bytes of `aa:bb:cc:dd:ee:ff`. */
export function parseMac(text: string): Uint8Array | undefined {
  const parts = text.split(':');
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) {
    return undefined;
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}
