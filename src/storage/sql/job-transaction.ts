import type { Transaction } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';
import type { ActionSnapshot, ChangeRef, Job, JobTransaction, Transition } from '../ports.js';
import type { ChangeLog, PendingChange } from './change-log.js';
import { appendToJsonArray, type BulkWrites } from './bulk-writes.js';
import type { Database } from './schema.js';
import { appendJsonText, forUpdate, runSql } from './raw-sql.js';
import type { ActionRow } from './action-rows.js';
import { actionFields, rowToAction, stateJson } from './action-rows.js';
import { ledgerAdd, ledgerRemove } from './ledger.js';
import type { BatchLedger } from './batch-ledger.js';

/** What an engine batch shares between its steps (see engine-store `runBatch`). */
export interface BatchContext {
  /** the action row, read and locked with the job */
  row: ActionRow | undefined;
  writes: BulkWrites;
  agents: Map<string, { count: number; minConfirmed: number }>;
  ledger: BatchLedger;
  /** the apply job of each withdrawn action in the batch, read with it */
  applyJobs: ReadonlyMap<number, { id: number; leaseOwner: string | null; leaseUntil: number | null }>;
}

/** A job step's transaction plus `flush()`, which writes the action's buffered changes. */
export interface BufferedJobTransaction extends JobTransaction {
  flush(): Promise<void>;
}

/**
 * Builds the transaction-scoped operations one engine step may perform on its action. Changes to
 * the action row (status, states, applied/withdrawn marks) are buffered and written by `flush()` as
 * one UPDATE. That is safe because the row was read under a lock (FOR UPDATE on PostgreSQL; SQLite
 * has a single writer) and the idempotency guards check the snapshot read here. Returns undefined
 * when the action no longer exists (the job is then dropped).
 */
export async function createJobTransaction(
  trx: Transaction<Database>,
  caps: DialectCapabilities,
  job: Job,
  now: number,
  log: ChangeLog,
  batch?: BatchContext,
): Promise<BufferedJobTransaction | undefined> {
  const row = batch ? batch.row : (await runSql<ActionRow>(trx, caps, `select * from actions where seq = ?${forUpdate(caps)}`, [job.actionSeq])).rows[0];
  if (!row) return undefined;
  // Plain fields, not the stored JSON text, which the step's in-memory changes would make stale.
  const action: ActionSnapshot = {
    ...actionFields(rowToAction(row)),
    seq: Number(row.seq),
    appliedAt: row.applied_at === null ? null : Number(row.applied_at),
    withdrawnAt: row.withdrawn_at === null ? null : Number(row.withdrawn_at),
    expiredAt: row.expired_at === null ? null : Number(row.expired_at),
  };
  const stream = { tenantId: action.tenantId, provider: job.provider };
  const indicatorMatch = {
    tenant_id: action.tenantId, provider: job.provider, indicator_type: action.indicator.type, indicator: action.indicator.value,
  };
  let dirty = false;
  let errorInfo: string | null = row.error_info;
  let completedAt: number | null = row.completed_at === null ? null : Number(row.completed_at);
  let lastActionAt = Number(row.last_action_at);
  const newStates: string[] = [];
  /** the change this step published last, for confirmations and push payloads */
  let lastChange: PendingChange | undefined;
  const refOf = (c: PendingChange): ChangeRef => (c.seq === undefined ? { pending: true } : { seq: c.seq });

  return {
    action,
    now,
    async ledgerAdd() {
      if (action.appliedAt !== null) return undefined;
      action.appliedAt = now;
      dirty = true;
      const result = batch ? batch.ledger.add(stream, action.indicator, action.expiresAt) : await ledgerAdd(trx, caps, log, stream, action.indicator, action.expiresAt);
      if (!('stream' in result.change)) return { refcount: result.refcount, published: false, change: result.change };
      lastChange = result.change;
      return { refcount: result.refcount, published: result.published, change: refOf(result.change) };
    },
    async ledgerRemove() {
      if (action.appliedAt === null || action.withdrawnAt !== null) return undefined;
      action.withdrawnAt = now;
      dirty = true;
      // A withdrawal supersedes any confirmation the apply was still waiting for.
      if (batch) batch.writes.dropConfirmation(action.seq, 'apply');
      else await trx.deleteFrom('confirmations').where('action_seq', '=', action.seq).where('kind', '=', 'apply').execute();
      const remainingExpiry = async () => {
        // Earlier steps of a batch have not written their actions' applied/withdrawn marks yet.
        if (batch) await batch.writes.flush();
        const agg = await trx
          .selectFrom('actions')
          .select((eb) => [eb.fn.countAll<number>().filterWhere('expires_at', 'is', null).as('forever'), eb.fn.max('expires_at').as('latest')])
          .where((eb) => eb.and(indicatorMatch))
          .where('seq', '!=', action.seq)
          .where('applied_at', 'is not', null)
          .where('withdrawn_at', 'is', null)
          .executeTakeFirstOrThrow();
        return Number(agg.forever) > 0 || agg.latest === null ? null : Number(agg.latest);
      };
      const result = batch ? await batch.ledger.remove(stream, action.indicator, remainingExpiry) : await ledgerRemove(trx, caps, log, stream, action.indicator, remainingExpiry);
      if (result.change) lastChange = result.change;
      return { remaining: result.remaining, change: result.change ? refOf(result.change) : null };
    },
    async publishNow() {
      await log.flush();
      return lastChange?.seq ?? null;
    },
    async transition(t: Transition) {
      const ends = t.status === 'Completed' || t.status === 'Failed' ? (t.ends ?? true) : false;
      dirty = true;
      lastActionAt = now;
      completedAt = ends ? now : null;
      if (t.errorInfo !== undefined) errorInfo = t.errorInfo ? JSON.stringify(t.errorInfo) : null;
      const state = { appId: null, status: t.status, updatedAt: now, user: null, reason: t.reason };
      newStates.push(stateJson(state));
      action.status = t.status;
      action.states.push(state);
    },
    async awaitConfirmations(kind, change) {
      if ('pending' in change) {
        if (!lastChange) throw new Error('awaitConfirmations(pending) without a published change');
        lastChange.confirmations.push({ actionSeq: action.seq, kind });
        return;
      }
      await trx
        .insertInto('confirmations')
        .values({ tenant_id: action.tenantId, provider: job.provider, action_seq: action.seq, kind, change_seq: change.seq })
        .onConflict((oc) => oc.columns(['action_seq', 'kind']).doUpdateSet({ change_seq: change.seq }))
        .execute();
    },
    async agents() {
      const cacheKey = `${action.tenantId}\n${job.provider}`;
      const cached = batch?.agents.get(cacheKey);
      if (cached) return cached;
      const r = await trx
        .selectFrom('credentials')
        .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min(eb.fn.coalesce('confirmed_seq', eb.lit(0))).as('min')])
        .where('tenant_id', '=', action.tenantId)
        .where('kind', '=', 'agent')
        .where('provider', '=', job.provider)
        .where('revoked_at', 'is', null)
        .executeTakeFirstOrThrow();
      const agents = { count: Number(r.n), minConfirmed: r.min === null ? 0 : Number(r.min) };
      batch?.agents.set(cacheKey, agents);
      return agents;
    },
    async dropApplyJob() {
      if (batch) {
        const other = batch.applyJobs.get(action.seq);
        if (!other) return 'none';
        if (other.leaseOwner !== null && other.leaseUntil !== null && other.leaseUntil >= now) return 'inFlight';
        batch.writes.finishJob(other.id);
        return 'dropped';
      }
      const other = await trx.selectFrom('jobs').select(['id', 'lease_owner', 'lease_until']).where('action_seq', '=', action.seq).where('kind', '=', 'apply').executeTakeFirst();
      if (!other) return 'none';
      if (other.lease_owner !== null && other.lease_until !== null && Number(other.lease_until) >= now) return 'inFlight';
      await trx.deleteFrom('jobs').where('id', '=', other.id).execute();
      return 'dropped';
    },
    async flush() {
      if (!dirty) return;
      if (batch) {
        batch.writes.updateAction({
          seq: action.seq, status: action.status, lastActionAt, completedAt, errorInfo, appliedAt: action.appliedAt,
          withdrawnAt: action.withdrawnAt, states: appendToJsonArray(row.states, newStates),
        });
        dirty = false;
        newStates.length = 0;
        return;
      }
      // One fixed-shape UPDATE: unchanged columns are written back from the locked snapshot.
      const states = newStates.length > 0 ? appendJsonText(caps, 'states', newStates.length) : 'states';
      await runSql(trx, caps, `update actions set status = ?, last_action_at = ?, completed_at = ?, error_info = ?, applied_at = ?, withdrawn_at = ?, states = ${states} where seq = ?`, [
        action.status, lastActionAt, completedAt, errorInfo, action.appliedAt, action.withdrawnAt, ...newStates, action.seq,
      ]);
      dirty = false;
      newStates.length = 0;
    },
  };
}
