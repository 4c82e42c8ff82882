import { createHash } from 'node:crypto';
import { errors } from '../../domain/errors.js';
import type { FilterNode, OrderByKey } from '../../odata/ast.js';
import type { KeysetPosition } from '../../storage/ports.js';

/**
 * The opaque `$skiptoken`: the keyset position of the last row served plus a fingerprint of the
 * query it belongs to, base64url-encoded. A token replayed with another filter or order is refused
 * instead of silently returning a wrong page.
 */
export function queryFingerprint(filter: FilterNode | undefined, orderBy: readonly OrderByKey[]): string {
  return createHash('sha256').update(JSON.stringify([filter ?? null, orderBy])).digest('base64url').slice(0, 12);
}

export function encodeSkipToken(position: KeysetPosition, fingerprint: string): string {
  return Buffer.from(JSON.stringify([fingerprint, position.seq, ...position.values])).toString('base64url');
}

export function decodeSkipToken(token: string, fingerprint: string, orderBy: readonly OrderByKey[]): KeysetPosition {
  const invalid = () => errors.invalidQuery('The $skiptoken is invalid or belongs to a different query; follow @odata.nextLink exactly.');
  if (!/^[A-Za-z0-9_-]{1,2048}$/.test(token)) throw invalid();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parsed) || parsed.length !== orderBy.length + 2 || parsed[0] !== fingerprint) throw invalid();
  const seq = parsed[1];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) throw invalid();
  const values = parsed.slice(2) as unknown[];
  if (!values.every((v) => v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v)))) throw invalid();
  return { seq, values: values as (string | number | null)[] };
}
