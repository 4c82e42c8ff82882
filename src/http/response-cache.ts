import { createHash } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { Principal } from '../domain/security-action.js';
import type { FilterNode } from '../odata/ast.js';
import type { ActionService } from '../services/action-service.js';

/**
 * List and `$count` answers kept as the bytes sent, each with the tenant's data version it was
 * computed at (`ActionService.dataVersion`; on SQLite triggers raise it in the same transaction as
 * every write to the tenant's actions). An answer is served again only while the version read for
 * the new request is the one it was stored under, so it is never older than what the query would
 * return; any write of the tenant (a create, an engine step, a cancel, an expiry) retires all of
 * its answers. Keyed by tenant and the exact request URL (path, version segment and query as sent:
 * the answer's links are built from them); the role check happens before the lookup.
 *
 * Bounded by bytes, least recently used first out. An answer is kept the second time its key is
 * asked at the same version, not the first: a client paging through the whole history once fills
 * nothing, while pages many clients poll are kept after one repeat. docs/decisions/0016.
 */
export class ResponseCache {
  private readonly entries = new Map<string, { version: number; body: Buffer; contentType: string }>();
  /** keys asked once at a version (insertion order = age), bounded by `maxSeenBytes` of key text */
  private readonly seen = new Map<string, number>();
  /** bytes held: each entry's body and key (a long URL with a two-byte count is mostly key) */
  private bytes = 0;
  private seenBytes = 0;
  /** counts by tenant and filter, kept from the first time (a client paging with `$count=true` asks each page once) */
  private readonly counts = new Map<string, { version: number; n: number }>();
  hits = 0;
  misses = 0;
  /** counts of `$count=true` lists and `/$count` served from `counts` */
  countHits = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxSeenBytes = 1024 * 1024,
    private readonly maxCounts = 10_000,
  ) {}

  static key(tenantId: string, url: string): string {
    return `${tenantId}\n${url}`;
  }

  get(key: string, version: number): { body: Buffer; contentType: string } | undefined {
    const entry = this.entries.get(key);
    if (entry?.version === version) {
      // Most recently used last.
      this.entries.delete(key);
      this.entries.set(key, entry);
      this.hits++;
      return entry;
    }
    // Versions only rise: an entry of another version can never be served again.
    if (entry) this.drop(key, entry.body);
    this.misses++;
    return undefined;
  }

  /** `body` was computed from data at least as new as `version` (read before the query ran). */
  offer(key: string, version: number, body: Buffer, contentType: string): void {
    if (body.length + key.length > this.maxBytes) return;
    const seenAt = this.seen.get(key);
    if (seenAt !== undefined) {
      this.seen.delete(key);
      this.seenBytes -= key.length;
    }
    if (seenAt !== version) {
      this.seen.set(key, version);
      this.seenBytes += key.length;
      for (const k of this.seen.keys()) {
        if (this.seenBytes <= this.maxSeenBytes) break;
        this.seen.delete(k);
        this.seenBytes -= k.length;
      }
      return;
    }
    const old = this.entries.get(key);
    if (old) this.drop(key, old.body);
    this.entries.set(key, { version, body, contentType });
    this.bytes += body.length + key.length;
    for (const [k, e] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(k, e.body);
    }
  }

  /**
   * The tenant's count for `filter` kept at `version`, or `compute()`d and kept. Shared by every
   * page of a `$count=true` list and by `/$count` with the same filter.
   */
  async count(tenantId: string, filter: FilterNode | undefined, version: number, compute: () => Promise<number>): Promise<number> {
    // A digest, not the filter's text: keys stay small however long the filter is.
    const key = `${tenantId}\n${createHash('sha256').update(JSON.stringify(filter ?? null)).digest('base64')}`;
    const kept = this.counts.get(key);
    if (kept?.version === version) {
      this.countHits++;
      return kept.n;
    }
    const n = await compute();
    this.counts.delete(key);
    this.counts.set(key, { version, n });
    if (this.counts.size > this.maxCounts) this.counts.delete(this.counts.keys().next().value!);
    return n;
  }

  /** bytes held by kept answers (bodies and keys) */
  get size(): number {
    return this.bytes;
  }

  private drop(key: string, body: Buffer): void {
    this.entries.delete(key);
    this.bytes -= body.length + key.length;
  }
}

/**
 * Answers a list or count request from `cache` while the tenant's data version holds, else
 * computes, sends and offers the answer; `compute` gets the counts it needs through `count`,
 * which reuses a count of the same filter kept at this version. Without a cache, or where the
 * store keeps no version (PostgreSQL), always computes. `dataVersion` checks the caller's read role.
 */
export async function sendCachedAnswer(
  reply: FastifyReply,
  cache: ResponseCache | undefined,
  actions: ActionService,
  principal: Principal,
  url: string,
  compute: (count: (filter: FilterNode | undefined, run: () => Promise<number>) => Promise<number>) => Promise<{ body: Buffer; contentType: string }>,
): Promise<FastifyReply> {
  const version = cache ? await actions.dataVersion(principal) : undefined;
  if (!cache || version === undefined) {
    const answer = await compute((_filter, run) => run());
    return reply.header('content-type', answer.contentType).send(answer.body);
  }
  const key = ResponseCache.key(principal.tenantId, url);
  const hit = cache.get(key, version);
  if (hit) return reply.header('content-type', hit.contentType).send(hit.body);
  const answer = await compute((filter, run) => cache.count(principal.tenantId, filter, version, run));
  cache.offer(key, version, answer.body, answer.contentType);
  return reply.header('content-type', answer.contentType).send(answer.body);
}
