import type { Transaction } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';
import type { ActionSnapshot, Job, JobTransaction, Transition } from '../ports.js';
import type { Database } from './schema.js';
import { rowToAction, stateJson } from './action-rows.js';
import { ledgerAdd, ledgerRemove } from './ledger.js';

/**
 * Builds the transaction-scoped operations one engine step may perform on its action. Returns
 * undefined when the action no longer exists (the job is then dropped).
 */
export async function createJobTransaction(
  trx: Transaction<Database>,
  caps: DialectCapabilities,
  job: Job,
  now: number,
  onPublished: (seq: number) => void,
): Promise<JobTransaction | undefined> {
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

  return {
    action,
    now,
    async ledgerAdd() {
      const r = await trx.updateTable('actions').set({ applied_at: now }).where('seq', '=', action.seq).where('applied_at', 'is', null).executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return undefined;
      action.appliedAt = now;
      const result = await ledgerAdd(trx, caps, stream, action.indicator, action.expiresAt, now);
      if (result.published) onPublished(result.changeSeq);
      return result;
    },
    async ledgerRemove() {
      const r = await trx
        .updateTable('actions')
        .set({ withdrawn_at: now })
        .where('seq', '=', action.seq)
        .where('applied_at', 'is not', null)
        .where('withdrawn_at', 'is', null)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return undefined;
      action.withdrawnAt = now;
      // A withdrawal supersedes any confirmation the apply was still waiting for.
      await trx.deleteFrom('confirmations').where('action_seq', '=', action.seq).where('kind', '=', 'apply').execute();
      const remainingExpiry = async () => {
        const agg = await trx
          .selectFrom('actions')
          .select((eb) => [eb.fn.countAll<number>().filterWhere('expires_at', 'is', null).as('forever'), eb.fn.max('expires_at').as('latest')])
          .where((eb) => eb.and(indicatorMatch))
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
      const state = stateJson({ appId: null, status: t.status, updatedAt: now, user: null, reason: t.reason });
      await trx
        .updateTable('actions')
        .set({
          status: t.status,
          last_action_at: now,
          completed_at: ends ? now : null,
          ...(t.errorInfo !== undefined ? { error_info: t.errorInfo ? JSON.stringify(t.errorInfo) : null } : {}),
          states: caps.appendJsonSql('states', state),
        })
        .where('seq', '=', action.seq)
        .execute();
      action.status = t.status;
      action.states.push({ appId: null, status: t.status, updatedAt: now, user: null, reason: t.reason });
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
  };
}
