/**
 * Indicators Bulwark refuses to block because blocking them would cut off the host, the network
 * or Bulwark itself. Checked when an action is created, before anything is stored or enforced.
 */
import { errors, truncate } from './errors.js';
import { domainAncestry, normalizeHostname } from './indicators/domain.js';
import type { Indicator } from './indicators/indicator.js';
import type { Cidr, IpFamily, IpRange } from './indicators/ip.js';
import { cidrRange, formatCidr, networkMask, parseIpOrCidr, toIpv4Mapped } from './indicators/ip.js';
import { urlHost } from './indicators/url.js';

/**
 * One protected indicator. `value` is an IP address, a CIDR range, or a hostname: a plain
 * hostname protects exactly that name, `*.example.com` protects every strict subdomain.
 * `label` says why it is protected and is shown to clients in the refusal.
 */
export interface ProtectedEntry {
  value: string;
  label: string;
}

const listenAddressLabel = "the service's listen address";
const hostnameLabel = "the service's hostname";

/**
 * What no deployment should ever block: loopback, unspecified, link-local, multicast and
 * broadcast addresses (RFC 6890), `localhost`, and the addresses and hostnames Bulwark serves on.
 * Loopback comes first so that a refused `0.0.0.0/0` names it rather than a rarer range.
 */
export function defaultProtectedEntries(listen: { addresses: string[]; hostnames: string[] }): ProtectedEntry[] {
  return [
    { value: '127.0.0.0/8', label: 'loopback' },
    { value: '::1', label: 'loopback' },
    { value: 'localhost', label: 'loopback' },
    { value: '0.0.0.0/32', label: 'unspecified address' },
    { value: '::/128', label: 'unspecified address' },
    { value: '169.254.0.0/16', label: 'link-local' },
    { value: 'fe80::/10', label: 'link-local' },
    { value: '224.0.0.0/4', label: 'multicast' },
    { value: 'ff00::/8', label: 'multicast' },
    { value: '255.255.255.255', label: 'broadcast' },
    ...listen.addresses.map((value) => ({ value, label: listenAddressLabel })),
    ...listen.hostnames.map((value) => ({ value, label: hostnameLabel })),
  ];
}

/** A protected entry in canonical form plus its rank: on several conflicts, the lowest rank is named. */
interface Hit {
  entry: ProtectedEntry;
  rank: number;
}

interface Interval extends IpRange {
  hit: Hit;
}

/**
 * Answers "would this block cover a protected entry?" in time logarithmic in the number of
 * entries (plus the number of entries inside a refused range), so allow-lists of thousands of
 * entries cost nothing per action.
 */
export class Guardrails {
  // CIDR ranges are nested or disjoint, so a protected range overlapping a block either contains
  // the block's network (found by exact lookup at each protected prefix length) or starts inside
  // the block (found by binary search over ranges sorted by first address).
  private readonly cidrs = new Map<string, Hit>();
  private readonly prefixes: Record<IpFamily, number[]> = { 4: [], 6: [] };
  private readonly intervals: Record<IpFamily, Interval[]> = { 4: [], 6: [] };
  // Domains by name and by every ancestor name, so covering checks walk labels, not entries.
  private readonly exact = new Map<string, Hit>();
  private readonly exactUnder = new Map<string, Hit>();
  private readonly wildcardAt = new Map<string, Hit>();
  private readonly wildcardUnder = new Map<string, Hit>();

  private constructor() {}

  /**
   * Compiles the configured entries.
   * @throws Error (a start-up configuration error, not a client error) on an entry that is not an
   *   IP address, CIDR range or hostname.
   */
  static from(entries: readonly ProtectedEntry[]): Guardrails {
    const guardrails = new Guardrails();
    entries.forEach((entry, rank) => guardrails.add(entry, rank, entries.length));
    for (const family of [4, 6] as const) {
      guardrails.prefixes[family].sort((a, b) => a - b);
      guardrails.intervals[family].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : a.hit.rank - b.hit.rank));
    }
    return guardrails;
  }

  /**
   * Refuses an action whose indicator would block a protected entry.
   * @throws BulwarkError `protectedIndicator` naming the protected entry and its label.
   */
  check(actionName: string, indicator: Indicator): void {
    const hit = this.findConflict(indicator);
    if (hit === undefined) return;
    throw errors.protectedIndicator(
      `${actionName} ${truncate(indicator.value, 200)} would block ${hit.value} (${hit.label}), which is protected; ` +
        'see "guardrails" in the configuration.',
    );
  }

  /** The protected entry (canonical value) that the indicator would block, if any. */
  findConflict(indicator: Indicator): ProtectedEntry | undefined {
    switch (indicator.type) {
      case 'ip':
        return this.findCidr(parseOrThrow(indicator.value))?.entry;
      case 'domain':
        return this.findDomainBlock(indicator.value)?.entry;
      case 'url': {
        const host = urlHost(indicator.value);
        const cidr = parseIpOrCidr(host);
        return (cidr ? this.findCidr(cidr) : this.findHost(host))?.entry;
      }
      case 'md5':
      case 'sha1':
      case 'sha256':
        return undefined; // a file hash cannot cut anyone off the network
      default:
        return indicator.type satisfies never;
    }
  }

  private add(entry: ProtectedEntry, rank: number, count: number): void {
    const text = entry.value.trim().replace(/^\[(.*)\]$/, '$1');
    const cidr = parseIpOrCidr(text);
    if (cidr) {
      const hit = { entry: { value: formatCidr(cidr), label: entry.label }, rank };
      this.addCidr(cidr, hit);
      // Also guard the IPv4-mapped IPv6 form, ranked after native IPv6 entries.
      if (cidr.family === 4) this.addCidr(toIpv4Mapped(cidr), { ...hit, rank: rank + count });
      return;
    }
    const name = normalizeHostname(text, { wildcard: true, minLabels: 1 });
    if (name === undefined) {
      throw new Error(`guardrails: '${entry.value}' (${entry.label}) is not an IP address, CIDR range or hostname.`);
    }
    const hit = { entry: { value: name, label: entry.label }, rank };
    const [base = name, ...ancestors] = domainAncestry(name);
    const [at, under] = name.startsWith('*.') ? [this.wildcardAt, this.wildcardUnder] : [this.exact, this.exactUnder];
    keepLowest(at, base, hit);
    for (const ancestor of ancestors) keepLowest(under, ancestor, hit);
  }

  private addCidr(cidr: Cidr, hit: Hit): void {
    keepLowest(this.cidrs, cidrKey(cidr.family, cidr.prefix, cidr.network), hit);
    if (!this.prefixes[cidr.family].includes(cidr.prefix)) this.prefixes[cidr.family].push(cidr.prefix);
    this.intervals[cidr.family].push({ ...cidrRange(cidr), hit });
  }

  private findCidr(block: Cidr): Hit | undefined {
    let best: Hit | undefined;
    for (const prefix of this.prefixes[block.family]) {
      if (prefix > block.prefix) break;
      const network = block.network & networkMask(block.family, prefix);
      best = lowest(best, this.cidrs.get(cidrKey(block.family, prefix, network)));
    }
    const { first, last } = cidrRange(block);
    const intervals = this.intervals[block.family];
    for (let i = lowerBound(intervals, first); i < intervals.length && intervals[i]!.first <= last; i++) {
      best = lowest(best, intervals[i]!.hit);
    }
    return best;
  }

  /** A domain block covers the protected names at or under it, and meets `*.y` when related to `y`. */
  private findDomainBlock(value: string): Hit | undefined {
    const [base = value, ...ancestors] = domainAncestry(value);
    let best = lowest(value.startsWith('*.') ? undefined : this.exact.get(base), this.exactUnder.get(base));
    best = lowest(best, this.wildcardUnder.get(base));
    for (const name of [base, ...ancestors]) best = lowest(best, this.wildcardAt.get(name));
    return best;
  }

  /** A URL's host is protected when named exactly or under a protected wildcard. */
  private findHost(host: string): Hit | undefined {
    const [, ...ancestors] = domainAncestry(host);
    let best = this.exact.get(host);
    for (const name of ancestors) best = lowest(best, this.wildcardAt.get(name));
    return best;
  }
}

function parseOrThrow(value: string): Cidr {
  const cidr = parseIpOrCidr(value);
  if (!cidr) throw new Error(`guardrails: indicator '${value}' is not a normalised IP or CIDR`);
  return cidr;
}

function cidrKey(family: IpFamily, prefix: number, network: bigint): string {
  return `${family}/${prefix}/${network}`;
}

function lowest(a: Hit | undefined, b: Hit | undefined): Hit | undefined {
  return a === undefined || (b !== undefined && b.rank < a.rank) ? b : a;
}

function keepLowest(map: Map<string, Hit>, key: string, hit: Hit): void {
  const current = map.get(key);
  if (current === undefined || hit.rank < current.rank) map.set(key, hit);
}

/** Index of the first interval whose `first` is ≥ `value`. */
function lowerBound(intervals: readonly Interval[], value: bigint): number {
  let [low, high] = [0, intervals.length];
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (intervals[mid]!.first < value) low = mid + 1;
    else high = mid;
  }
  return low;
}
