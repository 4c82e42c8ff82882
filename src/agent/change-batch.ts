import { cidrRange, formatCidr, parseIpOrCidr, type Cidr, type IpRange } from '../domain/indicators/ip.js';

/** One blocked address or range as the agent keeps it: canonical text, parsed range, absolute expiry. */
export interface BlockEntry {
  /** canonical CIDR text (`10.0.0.0/24`, `203.0.113.7`), the key the server's removals name */
  key: string;
  cidr: Cidr;
  /** `cidrRange(cidr)`, computed once (optional so tests can build entries from a CIDR alone) */
  range?: IpRange;
  /** epoch ms; null = until removed */
  expiresAt: number | null;
}

/**
 * One answer of `GET /agents/{tenantId}/{provider}/changes`, validated and reduced to what an IP
 * enforcement point acts on. Indicator types other than `ip` are skipped (another kind of agent
 * may share the stream); values that do not parse are reported in `invalid`, never applied.
 */
export interface ChangeBatch {
  cursor: number;
  snapshot: boolean;
  more: boolean;
  added: BlockEntry[];
  removed: Pick<BlockEntry, 'key' | 'cidr'>[];
  invalid: string[];
}

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

/** Validates the JSON body of a changes response; throws `ProtocolError` on a malformed one. */
export function parseChangeBatch(json: unknown): ChangeBatch {
  if (typeof json !== 'object' || json === null) throw new ProtocolError('changes: the body is not a JSON object');
  const o = json as Record<string, unknown>;
  const cursor = o['cursor'];
  if (typeof cursor !== 'number' || !Number.isSafeInteger(cursor) || cursor < 0) throw new ProtocolError('changes: cursor is not a non-negative integer');
  if (!Array.isArray(o['added']) || !Array.isArray(o['removed'])) throw new ProtocolError('changes: added/removed are not arrays');
  const batch: ChangeBatch = { cursor, snapshot: o['snapshot'] === true, more: o['more'] === true, added: [], removed: [], invalid: [] };
  for (const a of o['added'] as unknown[]) {
    const item = asIndicator(a);
    if (!item) continue;
    const cidr = parseIpOrCidr(item.value);
    const expiry = (a as Record<string, unknown>)['expirationDateTime'];
    const expiresAt = expiry === null || expiry === undefined ? null : typeof expiry === 'string' ? Date.parse(expiry) : Number.NaN;
    if (!cidr || Number.isNaN(expiresAt)) {
      batch.invalid.push(item.value);
      continue;
    }
    batch.added.push({ key: formatCidr(cidr), cidr, range: cidrRange(cidr), expiresAt });
  }
  for (const r of o['removed'] as unknown[]) {
    const item = asIndicator(r);
    if (!item) continue;
    const cidr = parseIpOrCidr(item.value);
    if (cidr) batch.removed.push({ key: formatCidr(cidr), cidr });
    else batch.invalid.push(item.value);
  }
  return batch;
}

function asIndicator(x: unknown): { value: string } | undefined {
  if (typeof x !== 'object' || x === null) throw new ProtocolError('changes: an entry is not an object');
  const { type, value } = x as Record<string, unknown>;
  if (typeof type !== 'string' || typeof value !== 'string') throw new ProtocolError('changes: an entry lacks type/value');
  return type === 'ip' ? { value } : undefined;
}
