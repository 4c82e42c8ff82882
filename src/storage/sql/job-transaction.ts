import type { Transaction, Updateable } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';
import type { ActionSnapshot, Job, JobTransaction, Transition } from '../ports.js';
import type { ActionsTable, Database } from './schema.js';
import { rowToAction, stateJson } from './action-rows.js';
import { ledgerAdd, ledgerRemove } from './ledger.js';

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
  onPublished: (seq: number) => void,
): Promise<BufferedJobTransaction | undefined> {
  let select = trx.selectFrom('actions').selectAll().where('seq', '=', job.actionSeq);
  if (caps.rowLocks) select = select.forUpdate();
  const row = await select.executeTakeFirst();
  if (!row) return undefined;
  const action: ActionSnapshot = {
    ...rowToAction(row),
    seq: Number(row.seq),
    appliedAt: row.applied_at === null ? null : Number(row.applied_at),
    withdrawnAt: row.withdrawn_at === null ? null : Number(row.withdrawn_at),
    expiredAt: row.expired_at === null ? null : Number(row.expired_at),
  };
  const stream = { tenantId: action.tenantId, provider: job.provider };
  const indicatorMatch = {
    tenant_id: action.tenantId, provider: job.provider, indicator_type: action.indicator.type, indicator: action.indicator.value,
  };
  let pending: Updateable<ActionsTable> = {};
  const newStates: string[] = [];

  return {
    action,
    now,
    async ledgerAdd() {
      if (action.appliedAt !== null) return undefined;
      action.appliedAt = now;
      pending.applied_at = now;
      const result = await ledgerAdd(trx, caps, stream, action.indicator, action.expiresAt, now);
      if (result.published) onPublished(result.changeSeq);
      return result;
    },
    async ledgerRemove() {
      if (action.appliedAt === null || action.withdrawnAt !== null) return undefined;
      action.withdrawnAt = now;
      pending.withdrawn_at = now;
      // A withdrawal supersedes any confirmation the apply was still waiting for.
      await trx.deleteFrom('confirmations').where('action_seq', '=', action.seq).where('kind', '=', 'apply').execute();
      const remainingExpiry = async () => {
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
      const result = await ledgerRemove(trx, caps, stream, action.indicator, remainingExpiry, now);
      if (result.changeSeq !== null) onPublished(result.changeSeq);
      return result;
    },
    async transition(t: Transition) {
      const ends = t.status === 'Completed' || t.status === 'Failed' ? (t.ends ?? true) : false;
      pending = { ...pending, status: t.status, last_action_at: now, completed_at: ends ? now : null };
      if (t.errorInfo !== undefined) pending.error_info = t.errorInfo ? JSON.stringify(t.errorInfo) : null;
      const state = { appId: null, status: t.status, updatedAt: now, user: null, reason: t.reason };
      newStates.push(stateJson(state));
      action.status = t.status;
      action.states.push(state);
    },
    async awaitConfirmations(kind, changeSeq) {
      await trx
        .insertInto('confirmations')
        .values({ tenant_id: action.tenantId, provider: job.provider, action_seq: action.seq, kind, change_seq: changeSeq })
        .onConflict((oc) => oc.columns(['action_seq', 'kind']).doUpdateSet({ change_seq: changeSeq }))
        .execute();
    },
    async agents() {
      const r = await trx
        .selectFrom('credentials')
        .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min(eb.fn.coalesce('confirmed_seq', eb.lit(0))).as('min')])
        .where('tenant_id', '=', action.tenantId)
        .where('kind', '=', 'agent')
        .where('provider', '=', job.provider)
        .where('revoked_at', 'is', null)
        .executeTakeFirstOrThrow();
      return { count: Number(r.n), minConfirmed: r.min === null ? 0 : Number(r.min) };
    },
    async dropApplyJob() {
      const other = await trx.selectFrom('jobs').select(['id', 'lease_owner', 'lease_until']).where('action_seq', '=', action.seq).where('kind', '=', 'apply').executeTakeFirst();
      if (!other) return 'none';
      if (other.lease_owner !== null && other.lease_until !== null && Number(other.lease_until) >= now) return 'inFlight';
      await trx.deleteFrom('jobs').where('id', '=', other.id).execute();
      return 'dropped';
    },
    async flush() {
      if (Object.keys(pending).length === 0 && newStates.length === 0) return;
      const states = newStates.length > 0 ? { states: caps.appendJsonSql('states', [...newStates]) } : {};
      await trx.updateTable('actions').set({ ...pending, ...states }).where('seq', '=', action.seq).execute();
      pending = {};
      newStates.length = 0;
    },
  };
}
