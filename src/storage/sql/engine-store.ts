import { sql, type Kysely, type Transaction } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';
import type { Notifier } from '../notifier.js';
import type { EngineStore, Job, JobDisposition } from '../ports.js';
import type { Database } from './schema.js';
import { createJobTransaction } from './job-transaction.js';
import { stateJson } from './action-rows.js';

export interface SqlEngineStoreOptions {
  db: Kysely<Database>;
  caps: DialectCapabilities;
  notifier: Notifier;
}

export function createSqlEngineStore({ db, caps, notifier }: SqlEngineStoreOptions): EngineStore {
  return {
    async claim(owner, now, leaseMs, limit) {
      const due = db
        .selectFrom('jobs')
        .select('id')
        .where('run_at', '<=', now)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .orderBy('run_at')
        .orderBy('id')
        .limit(limit);
      const rows = await db
        .updateTable('jobs')
        .set((eb) => ({ lease_owner: owner, lease_until: now + leaseMs, attempts: eb('attempts', '+', 1) }))
        .where('id', 'in', caps.skipLocked ? due.forUpdate().skipLocked() : due)
        .returning(['id', 'tenant_id', 'action_seq', 'kind', 'provider', 'attempts', 'payload', 'last_error'])
        .execute();
      return rows.map((r) => ({
        id: Number(r.id),
        tenantId: r.tenant_id,
        actionSeq: Number(r.action_seq),
        kind: r.kind as Job['kind'],
        provider: r.provider,
        attempts: r.attempts,
        payload: r.payload ? (JSON.parse(r.payload) as Record<string, unknown>) : null,
        lastError: r.last_error,
      }));
    },

    async runJob(job, owner, now, body) {
      const published: { tenantId: string; provider: string; seq: number }[] = [];
      const outcome = await db.transaction().execute(async (trx) => {
        // Fence: the step only counts if we still hold the lease.
        let fence = trx.selectFrom('jobs').select('id').where('id', '=', job.id).where('lease_owner', '=', owner);
        if (caps.rowLocks) fence = fence.forUpdate();
        if (!(await fence.executeTakeFirst())) return 'lost' as const;
        const tx = await createJobTransaction(trx, caps, job, now, (seq) => published.push({ tenantId: job.tenantId, provider: job.provider, seq }));
        if (!tx) {
          await trx.deleteFrom('jobs').where('id', '=', job.id).execute();
          return 'done' as const;
        }
        await dispose(trx, job, await body(tx));
        return 'done' as const;
      });
      for (const p of published) notifier.notify('changes', `${p.tenantId}\n${p.provider}\n${p.seq}`);
      return outcome;
    },

    async expireDue(now, limit) {
      const due = await db
        .selectFrom('actions')
        .select(['seq', 'tenant_id', 'provider', 'expires_at'])
        .where('expires_at', '<=', now)
        .where('cancelled_at', 'is', null)
        .where('expired_at', 'is', null)
        .where('expires_at', 'is not', null)
        .orderBy('expires_at')
        .limit(limit)
        .execute();
      let queued = 0;
      for (const a of due) {
        const done = await db.transaction().execute(async (trx) => {
          const state = stateJson({
            appId: null, status: 'Running', updatedAt: now, user: null,
            reason: `expired at ${new Date(Number(a.expires_at)).toISOString()}; withdrawing`,
          });
          const r = await trx
            .updateTable('actions')
            .set({ expired_at: now, status: 'Running', completed_at: null, last_action_at: now, states: caps.appendJsonSql('states', state) })
            .where('seq', '=', a.seq)
            .where('expired_at', 'is', null)
            .where('cancelled_at', 'is', null)
            .executeTakeFirst();
          if (Number(r.numUpdatedRows) === 0) return false;
          await trx
            .insertInto('jobs')
            .values({
              tenant_id: a.tenant_id, action_seq: Number(a.seq), kind: 'withdraw', provider: a.provider ?? '', run_at: now,
              attempts: 0, lease_owner: null, lease_until: null, last_error: null, payload: null, created_at: now,
            })
            .onConflict((oc) => oc.columns(['action_seq', 'kind']).doNothing())
            .execute();
          return true;
        });
        if (done) queued++;
      }
      if (queued > 0) notifier.notify('jobs', '');
      return queued;
    },

    async nextExpiry() {
      const row = await db
        .selectFrom('actions')
        .select((eb) => eb.fn.min('expires_at').as('next'))
        .where('cancelled_at', 'is', null)
        .where('expired_at', 'is', null)
        .where('expires_at', 'is not', null)
        .executeTakeFirst();
      return row?.next === null || row?.next === undefined ? null : Number(row.next);
    },

    async releaseLeases(owner) {
      const r = await db
        .updateTable('jobs')
        .set((eb) => ({ lease_owner: null, lease_until: null, attempts: sql<number>`case when ${eb.ref('attempts')} > 0 then ${eb.ref('attempts')} - 1 else 0 end` }))
        .where('lease_owner', '=', owner)
        .executeTakeFirst();
      return Number(r.numUpdatedRows);
    },

    async backlog(now) {
      const row = await db
        .selectFrom('jobs')
        .select((eb) => [
          eb.fn.countAll<number>().filterWhere((w) => w.and([w('run_at', '<=', now), w.or([w('lease_until', 'is', null), w('lease_until', '<', now)])])).as('due'),
          eb.fn.countAll<number>().filterWhere('lease_until', '>=', now).as('leased'),
          eb.fn.countAll<number>().filterWhere((w) => w.and([w('lease_until', '<', now), w('lease_owner', 'is not', null)])).as('expired'),
        ])
        .executeTakeFirstOrThrow();
      return { due: Number(row.due), leased: Number(row.leased), expiredLeases: Number(row.expired) };
    },
  };
}

async function dispose(trx: Transaction<Database>, job: Job, d: JobDisposition): Promise<void> {
  switch (d.kind) {
    case 'finish':
      await trx.deleteFrom('jobs').where('id', '=', job.id).execute();
      return;
    case 'keep':
      await trx.updateTable('jobs').set({ payload: JSON.stringify(d.payload) }).where('id', '=', job.id).execute();
      return;
    case 'retry':
      await trx
        .updateTable('jobs')
        .set({ run_at: d.runAt, lease_owner: null, lease_until: null, last_error: d.error.slice(0, 1000), ...(d.payload ? { payload: JSON.stringify(d.payload) } : {}) })
        .where('id', '=', job.id)
        .execute();
      return;
    default:
      d satisfies never;
  }
}
