import { formatAddress, formatCidr, type Cidr, type IpFamily } from '../domain/indicators/ip.js';
import type { ElementDiff } from './element-diff.js';
import type { NftElement } from './segments.js';

/** Where the agent enforces: its own `table inet <table>` and which hooks it attaches to. */
export interface TableSpec {
  table: string;
  /** this host's own traffic: input (from a blocked source) and output (to a blocked destination) */
  host: boolean;
  /** traffic routed through this host, in both directions */
  forward: boolean;
  /**
   * Addresses this host's own traffic is never dropped for: the Bulwark server. A block covering
   * it would otherwise cut the agent off its control channel, and no later cancel could reach it.
   */
  exempt?: readonly Cidr[];
}

export const setNames = { 4: 'blocked4', 6: 'blocked6' } as const satisfies Record<IpFamily, string>;
const setTypes = { 4: 'ipv4_addr', 6: 'ipv6_addr' } as const satisfies Record<IpFamily, string>;
const match = { 4: 'ip', 6: 'ip6' } as const satisfies Record<IpFamily, string>;

/** nft identifiers; anything else would need quoting rules we would rather not depend on. */
export const tableNamePattern = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

/** Elements per `add/delete element` statement: keeps lines (and nft's error excerpts) readable. */
const chunkSize = 500;

/**
 * The whole table, atomically replaced: `table` + `delete table` first makes the delete succeed
 * whether or not the table exists, and nft runs the file as one transaction, so packets see
 * either the old table or the new one, never none. Only our table is touched.
 */
export function renderRebuild(spec: TableSpec, elements: readonly NftElement[], now: number): string {
  const t = spec.table;
  const lines = [`table inet ${t} {}`, `delete table inet ${t}`, `table inet ${t} {`];
  for (const f of [4, 6] as const) lines.push(`  set ${setNames[f]} { type ${setTypes[f]}; flags interval, timeout; }`);
  // priority filter - 10: before the usual filter chains; a drop in any base chain is final.
  const chain = (hook: string, rules: string[]) => lines.push(`  chain ${hook} { type filter hook ${hook} priority filter - 10; policy accept; ${rules.join('; ')}; }`);
  const rule = (f: IpFamily, dir: 'saddr' | 'daddr') => `${match[f]} ${dir} @${setNames[f]} counter drop`;
  // An accept ends only this chain: it exempts the server from our drops, nobody else's.
  const exempt = (dir: 'saddr' | 'daddr') =>
    ([4, 6] as const).flatMap((f) => {
      const list = (spec.exempt ?? []).filter((c) => c.family === f).map(formatCidr);
      return list.length === 0 ? [] : [`${match[f]} ${dir} { ${list.join(', ')} } accept`];
    });
  if (spec.host) {
    chain('input', [...exempt('saddr'), rule(4, 'saddr'), rule(6, 'saddr')]);
    chain('output', [...exempt('daddr'), rule(4, 'daddr'), rule(6, 'daddr')]);
  }
  if (spec.forward) chain('forward', [rule(4, 'saddr'), rule(6, 'saddr'), rule(4, 'daddr'), rule(6, 'daddr')]);
  lines.push('}');
  lines.push(...elementStatements('add', t, elements, now));
  return `${lines.join('\n')}\n`;
}

/**
 * One batch as one transaction. Deletes come before adds: a range that grows or shrinks is
 * deleted and re-added, and nft refuses the new interval while the old one still overlaps it.
 * `removeIfPresent` elements are added and deleted again, which succeeds whether or not their
 * timeout already fired (a plain delete of a missing element fails the whole transaction).
 */
export function renderDiff(spec: TableSpec, diff: ElementDiff, now: number): string {
  const lines = [
    ...elementStatements('add', spec.table, diff.removeIfPresent, now, false),
    ...elementStatements('delete', spec.table, [...diff.removeIfPresent, ...diff.remove], now),
    ...elementStatements('add', spec.table, diff.add, now),
  ];
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** `--cleanup`: removes our table (and nothing else), whether or not it exists. */
export function renderCleanup(spec: TableSpec): string {
  return `table inet ${spec.table} {}\ndelete table inet ${spec.table}\n`;
}

function elementStatements(verb: 'add' | 'delete', table: string, elements: readonly NftElement[], now: number, withTimeout = verb === 'add'): string[] {
  const out: string[] = [];
  for (const f of [4, 6] as const) {
    const texts = elements.filter((e) => e.family === f).map((e) => elementText(e, withTimeout ? now : undefined));
    for (let i = 0; i < texts.length; i += chunkSize) out.push(`${verb} element inet ${table} ${setNames[f]} { ${texts.slice(i, i + chunkSize).join(', ')} }`);
  }
  return out;
}

/**
 * `10.0.0.1`, `10.0.0.0/24` or `10.0.0.3-10.0.0.9`, plus `timeout <ms>ms` when `now` is given and
 * the element expires. The timeout is at least 1 ms: nft reads `timeout 0ms` as "no timeout".
 */
export function elementText(e: NftElement, now?: number): string {
  const range = rangeText(e.family, e.first, e.last);
  if (now === undefined || e.expiresAt === null) return range;
  return `${range} timeout ${Math.max(1, Math.ceil(e.expiresAt - now))}ms`;
}

export function rangeText(family: IpFamily, first: bigint, last: bigint): string {
  if (first === last) return formatAddress(family, first);
  const size = last - first + 1n;
  const isPowerOfTwo = (size & (size - 1n)) === 0n;
  if (isPowerOfTwo && (first & (size - 1n)) === 0n) {
    const hostBits = size.toString(2).length - 1;
    return `${formatAddress(family, first)}/${(family === 4 ? 32 : 128) - hostBits}`;
  }
  return `${formatAddress(family, first)}-${formatAddress(family, last)}`;
}
