/**
 * IPv4 / IPv6 addresses and CIDR ranges as integers, so that normalisation, containment and
 * overlap are exact arithmetic instead of string games. Parsing is deliberately stricter than
 * `inet_aton` or WHATWG: anything a firewall might read differently from us is rejected.
 */

export type IpFamily = 4 | 6;

/** A CIDR range; `network` has every host bit cleared, so equal ranges compare equal. */
export interface Cidr {
  family: IpFamily;
  network: bigint;
  prefix: number;
}

/** An inclusive range of addresses of one family. */
export interface IpRange {
  first: bigint;
  last: bigint;
}

const bitsOf = { 4: 32, 6: 128 } as const satisfies Record<IpFamily, number>;

/**
 * Parses an address (`203.0.113.7`, `2001:db8::1`) or CIDR range (`10.0.0.7/24`), clearing host
 * bits. IPv4-mapped IPv6 (`::ffff:1.2.3.4`, `::ffff:0:0/104`) becomes the IPv4 it denotes, since
 * that is the address a firewall actually sees. Outer whitespace is trimmed.
 *
 * Rejected: IPv4 octets with leading zeros (`010` is octal to `inet_aton`, decimal to others),
 * zone ids (`fe80::1%eth0` names an interface, not a host), prefixes out of range or with leading
 * zeros, inner whitespace, and the short/numeric IPv4 forms (`127.1`, `0x7f000001`).
 */
export function parseIpOrCidr(text: string): Cidr | undefined {
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const addressText = slash === -1 ? trimmed : trimmed.slice(0, slash);
  const prefixText = slash === -1 ? undefined : trimmed.slice(slash + 1);
  const parsed = addressText.includes(':') ? parseIpv6(addressText) : parseIpv4(addressText);
  if (parsed === undefined) return undefined;
  const bits = bitsOf[parsed.family];
  let prefix: number = bits;
  if (prefixText !== undefined) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) return undefined;
    prefix = Number(prefixText);
    if (prefix > bits) return undefined;
  }
  const cidr: Cidr = { family: parsed.family, network: parsed.value & networkMask(parsed.family, prefix), prefix };
  if (cidr.family === 6 && prefix >= 96 && cidr.network >> 32n === 0xffffn) {
    return { family: 4, network: cidr.network & 0xffff_ffffn, prefix: prefix - 96 };
  }
  return cidr;
}

/** The canonical text of a range: network address, plus `/prefix` unless it is a single address. */
export function formatCidr(cidr: Cidr): string {
  const address = formatAddress(cidr.family, cidr.network);
  return cidr.prefix === bitsOf[cidr.family] ? address : `${address}/${cidr.prefix}`;
}

/** Shorthand for `formatCidr(parseIpOrCidr(text))`. */
export function normalizeIpOrCidr(text: string): string | undefined {
  const cidr = parseIpOrCidr(text);
  return cidr && formatCidr(cidr);
}

/**
 * Renders one address: dotted decimal for IPv4, RFC 5952 §4 for IPv6 (lower case, no leading
 * zeros, the longest run of two or more zero groups — the first on a tie — replaced by `::`).
 * @see https://www.rfc-editor.org/rfc/rfc5952#section-4
 */
export function formatAddress(family: IpFamily, value: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  let bestStart = -1;
  let bestLength = 1; // a single zero group is never compressed (RFC 5952 §4.2.2)
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (part: number[]) => part.map((g) => g.toString(16)).join(':');
  if (bestStart === -1) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}

/** First and last address of a range, inclusive. */
export function cidrRange(cidr: Cidr): IpRange {
  return { first: cidr.network, last: cidr.network | hostMask(cidr.family, cidr.prefix) };
}

/** Whether two ranges share an address; ranges of different families never do. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  // CIDR ranges are either nested or disjoint, so overlap means the shorter prefix contains the other.
  return a.prefix <= b.prefix ? cidrContains(a, b) : cidrContains(b, a);
}

/** Whether every address of `inner` is in `outer` (a range contains itself). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return (
    outer.family === inner.family &&
    outer.prefix <= inner.prefix &&
    (inner.network & networkMask(outer.family, outer.prefix)) === outer.network
  );
}

/**
 * The union of inclusive ranges as a sorted list of disjoint ranges; overlapping and adjacent
 * ranges are merged, as nftables interval sets require. All ranges must be of one family.
 * @throws Error when a range has `first > last` (a programming error, not a client error).
 */
export function mergeRanges(ranges: readonly IpRange[]): IpRange[] {
  const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const merged: IpRange[] = [];
  for (const range of sorted) {
    if (range.first > range.last) throw new Error(`mergeRanges: range ${range.first}-${range.last} is reversed`);
    const previous = merged.at(-1);
    if (previous && range.first <= previous.last + 1n) {
      if (range.last > previous.last) previous.last = range.last;
    } else {
      merged.push({ first: range.first, last: range.last });
    }
  }
  return merged;
}

/** The mask with the first `prefix` bits set. */
export function networkMask(family: IpFamily, prefix: number): bigint {
  const bits = BigInt(bitsOf[family]);
  return ((1n << bits) - 1n) ^ hostMask(family, prefix);
}

function hostMask(family: IpFamily, prefix: number): bigint {
  return (1n << BigInt(bitsOf[family] - prefix)) - 1n;
}

function parseIpv4(text: string): { family: 4; value: bigint } | undefined {
  const octets = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/.exec(text);
  if (!octets) return undefined;
  let value = 0n;
  for (const octet of octets.slice(1)) {
    const n = Number(octet);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return { family: 4, value };
}

function parseIpv6(text: string): { family: 6; value: bigint } | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0] ?? '', halves.length === 1);
  const tail = halves.length === 2 ? parseGroups(halves[1] ?? '', true) : [];
  if (!head || !tail) return undefined;
  const count = head.length + tail.length;
  if (halves.length === 1 ? count !== 8 : count > 7) return undefined;
  const groups = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  return { family: 6, value: groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n) };
}

/** Colon-separated hex groups; the last may be dotted IPv4 (two groups) when `allowIpv4` is set. */
function parseGroups(text: string, allowIpv4: boolean): number[] | undefined {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: number[] = [];
  for (const [i, part] of parts.entries()) {
    if (allowIpv4 && i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIpv4(part);
      if (!v4) return undefined;
      groups.push(Number(v4.value >> 16n), Number(v4.value & 0xffffn));
    } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

/**
 * The IPv4-mapped IPv6 form of an IPv4 range (`10.0.0.0/8` → `::ffff:10.0.0.0/104`), for checks
 * that must also catch IPv6 ranges spanning the mapped block. IPv6 ranges are returned unchanged.
 */
export function toIpv4Mapped(cidr: Cidr): Cidr {
  if (cidr.family === 6) return cidr;
  return { family: 6, network: (0xffffn << 32n) | cidr.network, prefix: cidr.prefix + 96 };
}
