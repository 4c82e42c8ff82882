import type { IndicatorType } from '../../domain/indicators/indicator.js';
import { toEdlUrl } from '../../domain/indicators/url.js';
import type { FeedView } from '../../services/feed-service.js';

export const feedFiles = ['ip.txt', 'domain.txt', 'url.txt', 'sha256.txt', 'sha1.txt', 'md5.txt', 'rpz.zone'] as const;
export type FeedFile = (typeof feedFiles)[number];

const sourceType: Record<FeedFile, IndicatorType> = {
  'ip.txt': 'ip', 'domain.txt': 'domain', 'url.txt': 'url', 'sha256.txt': 'sha256', 'sha1.txt': 'sha1', 'md5.txt': 'md5', 'rpz.zone': 'domain',
};

export interface RpzSettings {
  ttl: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

export function isFeedFile(name: string): name is FeedFile {
  return (feedFiles as readonly string[]).includes(name);
}

/** Version key for render caches: the RPZ serial moves with every change, lists with their type. */
export function feedVersion(file: FeedFile, view: FeedView): number {
  return file === 'rpz.zone' ? view.cursor : (view.versions.get(sourceType[file]) ?? 0);
}

/**
 * Renders a feed file, one entry per line, in a single pass over the feed's entries (in stream
 * order: firewalls and resolvers treat these lists as sets; sorting a million entries cost more
 * than everything else):
 * - `ip.txt`: IPs and CIDRs (Palo Alto EDL, FortiGate threat feed, pfSense/OPNsense URL table);
 * - `domain.txt`: each blocked domain and its `*.` wildcard (subdomains are blocked too, as in RPZ);
 * - `url.txt`: EDL URL format, no scheme (`evil.example/path`);
 * - hash lists: lower-case hex;
 * - `rpz.zone`: a Response Policy Zone with `CNAME .` (NXDOMAIN) for each domain and its wildcard;
 *   the SOA serial is the stream cursor, so it rises with every change; names too long to be a
 *   trigger under the resolver's zone name are left out (see {@link rpzOriginReserve}).
 */
export function renderFeed(file: FeedFile, view: FeedView, rpz: RpzSettings): string {
  const entries = view.byType.get(sourceType[file]) ?? new Map<string, number | null>();
  switch (file) {
    case 'ip.txt':
    case 'sha256.txt':
    case 'sha1.txt':
    case 'md5.txt':
      return lines([...entries.keys()]);
    case 'url.txt':
      // Different URLs can share an EDL form (http:// and https://): list each form once.
      return lines([...new Set(Array.from(entries.keys(), toEdlUrl))]);
    case 'domain.txt':
      return lines(domainLines(entries, (name) => name));
    case 'rpz.zone':
      return rpzZone(entries, view.cursor, rpz);
    default:
      return file satisfies never;
  }
}

/**
 * `W/"<file>-<version>"`: the version is the stream position of the last change to the file's
 * content, so answering `If-None-Match` needs no rendering and no hashing. Weak, because two nodes
 * at the same version hold the same entries but may list them in a different order.
 */
export function feedEtag(file: FeedFile, version: number): string {
  return `W/"${file.replace('.', '-')}-${version}"`;
}

/**
 * Each domain and its wildcard, one line each; an explicit `*.x` entry is skipped when `x` itself is
 * blocked (its wildcard line is already there).
 */
function domainLines(entries: ReadonlyMap<string, unknown>, line: (name: string) => string, keep: (name: string) => boolean = () => true): string[] {
  const out: string[] = [];
  for (const d of entries.keys()) {
    if (d.startsWith('*.')) {
      if (!entries.has(d.slice(2)) && keep(d)) out.push(line(d));
    } else {
      if (keep(d)) out.push(line(d));
      const wildcard = `*.${d}`;
      if (keep(wildcard)) out.push(line(wildcard));
    }
  }
  return out;
}

const lines = (v: string[]) => (v.length === 0 ? '' : `${v.join('\n')}\n`);

/**
 * Room left for the zone name the resolver gives the RPZ (`rpz.bulwark.` …): owner names are
 * relative to it, and a name longer than 253 characters in total is a syntax error. Resolvers do
 * not skip such a line — Unbound 1.17 stops reading the zone there (measured), and a strict zone
 * loader refuses the whole zone — so one over-long domain would silently unblock everything after
 * it. Names longer than
 * `253 - rpzOriginReserve` are left out (listed as comments); `domain.txt` still carries them.
 */
export const rpzOriginReserve = 64;
const maxRpzOwner = 253 - rpzOriginReserve;

function rpzZone(entries: ReadonlyMap<string, unknown>, cursor: number, s: RpzSettings): string {
  const serial = cursor % 4294967296;
  const head = [
    `$TTL ${s.ttl}`,
    `@ IN SOA localhost. hostmaster.localhost. ${serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`,
    '@ IN NS localhost.',
  ];
  const fits = (n: string) => n.length <= maxRpzOwner;
  const omitted = domainLines(entries, (n) => `; omitted, too long for an RPZ trigger: ${n}`, (n) => !fits(n));
  return `${[...head, ...domainLines(entries, (n) => `${n} CNAME .`, fits), ...omitted].join('\n')}\n`;
}
