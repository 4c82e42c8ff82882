import type { Transaction } from 'kysely';
import type { Indicator } from '../../domain/indicators/indicator.js';
import type { DialectCapabilities } from '../dialects.js';
import type { Database } from './schema.js';

type Trx = Transaction<Database>;
export interface StreamKey {
  tenantId: string;
  provider: string;
}

/**
 * Appends one change to a stream and returns its sequence number. The stream head row is bumped
 * in the caller's transaction, which serialises writers per stream until commit.
 */
export async function appendChange(
  trx: Trx,
  stream: StreamKey,
  change: { op: 'add' | 'remove'; indicator: Indicator; expiresAt: number | null },
  now: number,
): Promise<number> {
  const head = await trx
    .insertInto('streams')
    .values({ tenant_id: stream.tenantId, provider: stream.provider, head_seq: 1, pruned_through: 0 })
    .onConflict((oc) => oc.columns(['tenant_id', 'provider']).doUpdateSet((eb) => ({ head_seq: eb('streams.head_seq', '+', 1) })))
    .returning('head_seq')
    .executeTakeFirstOrThrow();
  const seq = Number(head.head_seq);
  await trx
    .insertInto('changes')
    .values({
      tenant_id: stream.tenantId, provider: stream.provider, seq, op: change.op,
      indicator_type: change.indicator.type, indicator: change.indicator.value, expires_at: change.expiresAt, created_at: now,
    })
    .execute();
  return seq;
}

/** Latest of two expiries, where null means "never expires". */
const laterExpiry = (a: number | null, b: number | null) => (a === null || b === null ? null : Math.max(a, b));

/**
 * Counts one more active action on an indicator. A new entry, or a later expiry, is published as an
 * `add` change (agents treat `add` as upsert); otherwise the entry is already in force as published
 * at `changeSeq`.
 */
export async function ledgerAdd(
  trx: Trx,
  caps: DialectCapabilities,
  stream: StreamKey,
  indicator: Indicator,
  expiresAt: number | null,
  now: number,
): Promise<{ refcount: number; changeSeq: number; published: boolean }> {
  const key = { tenant_id: stream.tenantId, provider: stream.provider, indicator_type: indicator.type, indicator: indicator.value };
  // Insert-or-nothing first: on PostgreSQL a concurrent inserter of the same key makes us wait
  // here, after which the row exists and can be locked.
  await trx
    .insertInto('ledger')
    .values({ ...key, refcount: 0, expires_at: expiresAt, change_seq: 0 })
    .onConflict((oc) => oc.columns(['tenant_id', 'provider', 'indicator_type', 'indicator']).doNothing())
    .execute();
  const row = await lockLedgerRow(trx, caps, key);
  const fresh = row.refcount === 0;
  const expiry = fresh ? expiresAt : laterExpiry(row.expires_at === null ? null : Number(row.expires_at), expiresAt);
  const changed = fresh || expiry !== (row.expires_at === null ? null : Number(row.expires_at));
  const changeSeq = changed ? await appendChange(trx, stream, { op: 'add', indicator, expiresAt: expiry }, now) : Number(row.change_seq);
  await updateLedgerRow(trx, key, { refcount: row.refcount + 1, expires_at: expiry, change_seq: changeSeq });
  return { refcount: row.refcount + 1, changeSeq, published: changed };
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
  const key = { tenant_id: stream.tenantId, provider: stream.provider, indicator_type: indicator.type, indicator: indicator.value };
  let select = trx.selectFrom('ledger').selectAll().where((eb) => eb.and(key));
  if (caps.rowLocks) select = select.forUpdate();
  const row = await select.executeTakeFirst();
  if (!row || row.refcount <= 1) {
    if (row) await trx.deleteFrom('ledger').where((eb) => eb.and(key)).execute();
    const changeSeq = row ? await appendChange(trx, stream, { op: 'remove', indicator, expiresAt: null }, now) : null;
    return { remaining: 0, changeSeq };
  }
  const expiry = await remainingExpiry();
  const moved = expiry !== (row.expires_at === null ? null : Number(row.expires_at));
  const changeSeq = moved ? await appendChange(trx, stream, { op: 'add', indicator, expiresAt: expiry }, now) : null;
  await updateLedgerRow(trx, key, { refcount: row.refcount - 1, expires_at: expiry, change_seq: changeSeq ?? Number(row.change_seq) });
  return { remaining: row.refcount - 1, changeSeq };
}

type LedgerKey = { tenant_id: string; provider: string; indicator_type: string; indicator: string };

async function lockLedgerRow(trx: Trx, caps: DialectCapabilities, key: LedgerKey) {
  let select = trx.selectFrom('ledger').selectAll().where((eb) => eb.and(key));
  if (caps.rowLocks) select = select.forUpdate();
  return select.executeTakeFirstOrThrow();
}

async function updateLedgerRow(trx: Trx, key: LedgerKey, values: { refcount: number; expires_at: number | null; change_seq: number }) {
  await trx.updateTable('ledger').set(values).where((eb) => eb.and(key)).execute();
}
