import { errors } from '../../domain/errors.js';
import type { ChangeBatch } from '../../services/change-stream-service.js';

/** `since` (a cursor; absent = snapshot) and `wait` (long-poll seconds, 0..60). */
export function parseChangeQuery(query: unknown): { since: number | undefined; wait: number } {
  const q = (query ?? {}) as Record<string, unknown>;
  const since = q['since'];
  const wait = q['wait'];
  if (since !== undefined && (typeof since !== 'string' || !/^\d{1,15}$/.test(since))) throw errors.badRequest("'since' must be a cursor returned by an earlier response.");
  if (wait !== undefined && (typeof wait !== 'string' || !/^\d{1,2}$/.test(wait) || Number(wait) > 60)) throw errors.badRequest("'wait' must be 0..60 seconds.");
  return { since: since === undefined ? undefined : Number(since), wait: wait === undefined ? 0 : Number(wait) };
}

export function changeBatchToJson(b: ChangeBatch): Record<string, unknown> {
  return {
    cursor: b.cursor,
    snapshot: b.snapshot,
    more: b.more,
    added: b.added.map((a) => ({ type: a.type, value: a.value, expirationDateTime: a.expiresAt === null ? null : new Date(a.expiresAt).toISOString() })),
    removed: b.removed,
  };
}
