import type { Transaction } from 'kysely';
import type { Indicator } from '../../domain/indicators/indicator.js';
import type { DialectCapabilities } from '../dialects.js';
import type { Database } from './schema.js';
import { forUpdate, runSql } from './raw-sql.js';

type Trx = Transaction<Database>;
export interface StreamKey {
  tenantId: string;
  provider: string;
}

const bumpHead = `insert into streams (tenant_id, provider, head_seq, pruned_through) values (?, ?, 1, 0)
  on conflict (tenant_id, provider) do update set head_seq = streams.head_seq + 1 returning head_seq`;
const insertChange = `insert into changes (tenant_id, provider, seq, op, indicator_type, indicator, expires_at, created_at) values (?, ?, ?, ?, ?, ?, ?, ?)`;

/**
 * Appends one change to a stream and returns its sequence number. The stream head row is bumped
 * in the caller's transaction, which serialises writers per stream until commit.
 */
export async function appendChange(
  trx: Trx,
  caps: DialectCapabilities,
  stream: StreamKey,
  change: { op: 'add' | 'remove'; indicator: Indicator; expiresAt: number | null },
  now: number,
): Promise<number> {
  const head = await runSql<{ head_seq: number | string }>(trx, caps, bumpHead, [stream.tenantId, stream.provider]);
  const seq = Number(head.rows[0]!.head_seq);
  await runSql(trx, caps, insertChange, [stream.tenantId, stream.provider, seq, change.op, change.indicator.type, change.indicator.value, change.expiresAt, now]);
  return seq;
}

/** Latest of two expiries, where null means "never expires". */
const laterExpiry = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.max(a, b));
const num = (v: number | string | null) => (v === null ? null : Number(v));

const keyWhere = 'tenant_id = ? and provider = ? and indicator_type = ? and indicator = ?';
// The conflict branch leaves expires_at and change_seq as they were, so RETURNING shows the old ones.
const upsertLedger = `insert into ledger (tenant_id, provider, indicator_type, indicator, refcount, expires_at, change_seq) values (?, ?, ?, ?, 1, ?, 0)
  on conflict (tenant_id, provider, indicator_type, indicator) do update set refcount = ledger.refcount + 1
  returning refcount, expires_at, change_seq`;
const setEntry = `update ledger set expires_at = ?, change_seq = ? where ${keyWhere}`;

/**
 * Counts one more active action on an indicator. A new entry, or a later expiry, is published as an
 * `add` change (agents treat `add` as upsert); otherwise the entry is already in force as published
 * at `changeSeq`. The upsert locks the row on PostgreSQL, so concurrent adds serialise.
 */
export async function ledgerAdd(
  trx: Trx,
  caps: DialectCapabilities,
  stream: StreamKey,
  indicator: Indicator,
  expiresAt: number | null,
  now: number,
): Promise<{ refcount: number; changeSeq: number; published: boolean }> {
  const key = [stream.tenantId, stream.provider, indicator.type, indicator.value];
  const row = (await runSql<{ refcount: number; expires_at: number | string | null; change_seq: number | string }>(trx, caps, upsertLedger, [...key, expiresAt])).rows[0]!;
  const refcount = Number(row.refcount);
  const fresh = refcount === 1;
  const expiry = fresh ? expiresAt : laterExpiry(num(row.expires_at), expiresAt);
  if (!fresh && expiry === num(row.expires_at)) return { refcount, changeSeq: Number(row.change_seq), published: false };
  const changeSeq = await appendChange(trx, caps, stream, { op: 'add', indicator, expiresAt: expiry }, now);
  await runSql(trx, caps, setEntry, [expiry, changeSeq, ...key]);
  return { refcount, changeSeq, published: true };
}

/**
 * Counts one active action fewer. At zero the entry is deleted and a `remove` change published;
 * otherwise the expiry is recomputed from the remaining active actions (`remainingExpiry`) and an
 * `add` change is published if it moved.
 */
export async function ledgerRemove(
  trx: Trx,
  caps: DialectCapabilities,
  stream: StreamKey,
  indicator: Indicator,
  remainingExpiry: () => Promise<number | null>,
  now: number,
): Promise<{ remaining: number; changeSeq: number | null }> {
  const key = [stream.tenantId, stream.provider, indicator.type, indicator.value];
  const row = (await runSql<{ refcount: number; expires_at: number | string | null; change_seq: number | string }>(
    trx, caps, `select refcount, expires_at, change_seq from ledger where ${keyWhere}${forUpdate(caps)}`, key,
  )).rows[0];
  if (!row || Number(row.refcount) <= 1) {
    if (row) await runSql(trx, caps, `delete from ledger where ${keyWhere}`, key);
    const changeSeq = row ? await appendChange(trx, caps, stream, { op: 'remove', indicator, expiresAt: null }, now) : null;
    return { remaining: 0, changeSeq };
  }
  const remaining = Number(row.refcount) - 1;
  const expiry = await remainingExpiry();
  const moved = expiry !== num(row.expires_at);
  const changeSeq = moved ? await appendChange(trx, caps, stream, { op: 'add', indicator, expiresAt: expiry }, now) : null;
  await runSql(trx, caps, `update ledger set refcount = ?, expires_at = ?, change_seq = ? where ${keyWhere}`, [remaining, expiry, changeSeq ?? Number(row.change_seq), ...key]);
  return { remaining, changeSeq };
}
