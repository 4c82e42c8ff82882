import type { Transaction } from 'kysely';
import type { Indicator } from '../../domain/indicators/indicator.js';
import type { DialectCapabilities } from '../dialects.js';
import type { Database } from './schema.js';
import type { ChangeLog, PendingChange, StreamKey } from './change-log.js';
import { forUpdate, runSql } from './raw-sql.js';

type Trx = Transaction<Database>;

/** Latest of two expiries, where null means "never expires". */
export const laterExpiry = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.max(a, b));
const num = (v: number | string | null) => (v === null ? null : Number(v));

const keyWhere = 'tenant_id = ? and provider = ? and indicator_type = ? and indicator = ?';
// The conflict branch leaves expires_at and change_seq as they were, so RETURNING shows the old ones.
const upsertLedger = `insert into ledger (tenant_id, provider, indicator_type, indicator, refcount, expires_at, change_seq) values (?, ?, ?, ?, 1, ?, 0)
  on conflict (tenant_id, provider, indicator_type, indicator) do update set refcount = ledger.refcount + 1
  returning refcount, expires_at, change_seq`;

/** `change`: the change that puts the entry in force — appended now, earlier in this transaction, or committed before (`seq`). */
export type LedgerAddResult = { refcount: number; published: boolean; change: PendingChange | { seq: number } };

/**
 * Counts one more active action on an indicator. A new entry, or a later expiry, is published as an
 * `add` change (agents treat `add` as upsert) through `log`; otherwise the entry is already in force
 * as published at `changeSeq`. The upsert locks the row on PostgreSQL, so concurrent adds serialise.
 */
export async function ledgerAdd(trx: Trx, caps: DialectCapabilities, log: ChangeLog, stream: StreamKey, indicator: Indicator, expiresAt: number | null): Promise<LedgerAddResult> {
  const key = [stream.tenantId, stream.provider, indicator.type, indicator.value];
  const row = (await runSql<{ refcount: number; expires_at: number | string | null; change_seq: number | string }>(trx, caps, upsertLedger, [...key, expiresAt])).rows[0]!;
  const refcount = Number(row.refcount);
  const fresh = refcount === 1;
  const expiry = fresh ? expiresAt : laterExpiry(num(row.expires_at), expiresAt);
  if (!fresh && expiry === num(row.expires_at)) return { refcount, published: false, change: log.latestFor(stream, indicator) ?? { seq: Number(row.change_seq) } };
  if (!fresh) await runSql(trx, caps, `update ledger set expires_at = ? where ${keyWhere}`, [expiry, ...key]);
  return { refcount, published: true, change: log.append({ stream, op: 'add', indicator, expiresAt: expiry, setsLedger: true }) };
}

/**
 * Counts one active action fewer. At zero the entry is deleted and a `remove` change published;
 * otherwise the expiry is recomputed from the remaining active actions (`remainingExpiry`) and an
 * `add` change is published if it moved. `change` is null when nothing was published.
 */
export async function ledgerRemove(
  trx: Trx,
  caps: DialectCapabilities,
  log: ChangeLog,
  stream: StreamKey,
  indicator: Indicator,
  remainingExpiry: () => Promise<number | null>,
): Promise<{ remaining: number; change: PendingChange | null }> {
  const key = [stream.tenantId, stream.provider, indicator.type, indicator.value];
  const row = (await runSql<{ refcount: number; expires_at: number | string | null }>(trx, caps, `select refcount, expires_at from ledger where ${keyWhere}${forUpdate(caps)}`, key)).rows[0];
  if (!row || Number(row.refcount) <= 1) {
    if (!row) return { remaining: 0, change: null };
    await runSql(trx, caps, `delete from ledger where ${keyWhere}`, key);
    return { remaining: 0, change: log.append({ stream, op: 'remove', indicator, expiresAt: null, setsLedger: false }) };
  }
  const remaining = Number(row.refcount) - 1;
  const expiry = await remainingExpiry();
  await runSql(trx, caps, `update ledger set refcount = ?, expires_at = ? where ${keyWhere}`, [remaining, expiry, ...key]);
  const moved = expiry !== num(row.expires_at);
  return { remaining, change: moved ? log.append({ stream, op: 'add', indicator, expiresAt: expiry, setsLedger: true }) : null };
}
