import { sql, type Kysely, type Transaction } from 'kysely';
import type { DialectCapabilities } from '../dialects.js';
import type { Notifier } from '../notifier.js';
import type { EngineStore, Job, JobDisposition } from '../ports.js';
import type { Database } from './schema.js';
import { createJobTransaction } from './job-transaction.js';
import { stateJson } from './action-rows.js';
import { forUpdate, runSql } from './raw-sql.js';
import { ChangeLog } from './change-log.js';
import { BulkWrites } from './bulk-writes.js';
import type { ActionRow } from './action-rows.js';
import { BatchLedger } from './batch-ledger.js';
import type { IndicatorType } from '../../domain/indicators/indicator.js';

export interface SqlEngineStoreOptions {
  db: Kysely<Database>;
  caps: DialectCapabilities;
  notifier: Notifier;
  /** where lease renewals run (DatabaseHandle.leaseDb); defaults to `db` */
  leaseDb?: Kysely<Database>;
}

export function createSqlEngineStore({ db, caps, notifier, leaseDb = db }: SqlEngineStoreOptions): EngineStore {
  return {
    async claim(owner, now, leaseMs, limit, exclude) {
      let due = db
        .selectFrom('jobs')
        .select('id')
        .where('run_at', '<=', now)
        .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', now)]))
        .orderBy('run_at')
        .orderBy('id')
        .limit(limit);
      if (exclude && exclude.length > 0) due = due.where('provider', 'not in', exclude);
      const rows = await db
        .updateTable('jobs')
        .set((eb) => ({ lease_owner: owner, lease_until: now + leaseMs, attempts: eb('attempts', '+', 1) }))
        .where('id', 'in', caps.skipLocked ? due.forUpdate().skipLocked() : due)
        .returning(['id', 'tenant_id', 'action_seq', 'kind', 'provider', 'attempts', 'payload', 'last_error'])
        .execute();
      return rows.map(toJob);
    },

    async runBatch(providers, now, limit, body) {
      if (providers.length === 0) return { count: 0, retryAt: null };
      let published: ReadonlyMap<string, number> = new Map();
      let retryAt: number | null = null;
      const count = await db.transaction().execute(async (trx) => {
        const log = new ChangeLog(trx, caps, now);
        const writes = new BulkWrites(trx, caps);
        const agents = new Map<string, { count: number; minConfirmed: number }>();
        // One query claims the jobs and reads (and locks) their actions.
        const rows = (
          await runSql<ActionRow & { job_id: number | string; job_tenant_id: string; job_kind: string; job_provider: string; job_attempts: number; job_payload: string | null; job_last_error: string | null }>(
            trx, caps,
            `select a.*, j.id as job_id, j.tenant_id as job_tenant_id, j.kind as job_kind, j.provider as job_provider, j.attempts as job_attempts,
                    j.payload as job_payload, j.last_error as job_last_error
             from jobs j join actions a on a.seq = j.action_seq
             where j.provider in (${providers.map(() => '?').join(', ')}) and j.run_at <= ? and (j.lease_until is null or j.lease_until < ?)
             order by j.run_at, j.id limit ?${caps.skipLocked ? ' for update of j, a skip locked' : ''}`,
            [...providers, now, now, limit],
          )
        ).rows;
        rows.sort((a, b) => cmp(a.tenant_id, b.tenant_id) || cmp(a.job_provider, b.job_provider) || cmp(a.indicator_type, b.indicator_type) || cmp(a.indicator, b.indicator) || Number(a.job_id) - Number(b.job_id));
        // One step per action per batch: a second job of the same action (an apply and its
        // withdrawal) needs the first one's outcome, so it waits for the next batch.
        const seen = new Set<number>();
        const steps = rows.filter((row) => !seen.has(Number(row.seq)) && seen.add(Number(row.seq)));
        // What the steps read besides their rows, read for all of them at once.
        const ledger = new BatchLedger(trx, caps, log);
        await ledger.load(steps.map((row) => ({
          stream: { tenantId: row.tenant_id, provider: row.job_provider },
          indicator: { type: row.indicator_type as IndicatorType, value: row.indicator },
          adds: row.job_kind === 'apply',
        })));
        const applyJobs = await readApplyJobs(trx, caps, steps.filter((row) => row.job_kind === 'withdraw').map((row) => Number(row.seq)));
        for (const row of steps) {
          const job = toJob({ id: row.job_id, tenant_id: row.job_tenant_id, action_seq: row.seq, kind: row.job_kind, provider: row.job_provider, attempts: row.job_attempts, payload: row.job_payload, last_error: row.job_last_error });
          const tx = (await createJobTransaction(trx, caps, job, now, log, { row, writes, agents, ledger, applyJobs }))!;
          const d = await body(tx, job);
          await tx.flush();
          if (d.kind === 'finish') writes.finishJob(job.id);
          else await dispose(trx, caps, job, d);
          if (d.kind === 'retry') retryAt = Math.min(retryAt ?? Infinity, d.runAt);
        }
        await writes.flush();
        await ledger.flush();
        // Last, so each stream's head row is locked only from here to the commit.
        await log.flush();
        published = log.published();
        return rows.length;
      });
      for (const [key, seq] of published) notifier.notify('changes', `${key}\n${seq}`);
      return { count, retryAt };
    },

    async runJob(job, lease, now, body) {
      let published: ReadonlyMap<string, number> = new Map();
      let wake = false;
      const outcome = await db.transaction().execute(async (trx) => {
        const log = new ChangeLog(trx, caps, now);
        // Fence: the step only counts if we still hold the lease. The row stays locked until commit,
        // so nobody claims it meanwhile; a kept job's lease is renewed as the step's last write
        // (dispose), so a step that waited long for locks does not hand its job over as it commits.
        const fenced = await runSql(trx, caps, `select id from jobs where id = ? and lease_owner = ?${forUpdate(caps)}`, [job.id, lease.owner]);
        if (fenced.rows.length === 0) return 'lost' as const;
        const tx = await createJobTransaction(trx, caps, job, now, log);
        if (!tx) {
          await trx.deleteFrom('jobs').where('id', '=', job.id).execute();
          return 'done' as const;
        }
        const disposition = await body(tx);
        await tx.flush();
        await dispose(trx, caps, job, disposition, lease.until);
        await log.flush();
        published = log.published();
        // An apply that finished or gave back its lease no longer holds up a withdrawal parked
        // behind it (see the engine's push withdraw): make that withdrawal due now.
        if (job.kind === 'apply' && disposition.kind !== 'keep') {
          const r = await trx.updateTable('jobs').set({ run_at: now }).where('action_seq', '=', job.actionSeq).where('kind', '=', 'withdraw').where('run_at', '>', now).executeTakeFirst();
          if (Number(r.numUpdatedRows) > 0) wake = true;
        }
        return 'done' as const;
      });
      for (const [stream, seq] of published) notifier.notify('changes', `${stream}\n${seq}`);
      if (wake) notifier.notify('jobs', '');
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
      if (due.length === 0) return 0;
      // Actions that expire at the same instant (one playbook's batch) share one state text, so
      // each group is one conditional UPDATE … RETURNING and one INSERT, and the whole batch is one
      // transaction (one commit: on SQLite each commit is an fsync). The conditions make the claim
      // safe when several nodes expire at once.
      const groups = new Map<number, number[]>();
      for (const a of due) groups.set(Number(a.expires_at), [...(groups.get(Number(a.expires_at)) ?? []), Number(a.seq)]);
      const queued = await db.transaction().execute(async (trx) => {
        let n = 0;
        for (const [expiresAt, seqs] of groups) {
          const state = stateJson({ appId: null, status: 'Running', updatedAt: now, user: null, reason: `expired at ${new Date(expiresAt).toISOString()}; withdrawing` });
          const expired = await trx
            .updateTable('actions')
            .set({ expired_at: now, status: 'Running', completed_at: null, last_action_at: now, states: caps.appendJsonSql('states', state) })
            .where('seq', 'in', seqs)
            .where('expired_at', 'is', null)
            .where('cancelled_at', 'is', null)
            .returning(['seq', 'tenant_id', 'provider'])
            .execute();
          if (expired.length === 0) continue;
          await trx
            .insertInto('jobs')
            .values(expired.map((a) => ({
              tenant_id: a.tenant_id, action_seq: Number(a.seq), kind: 'withdraw', provider: a.provider ?? '', run_at: now,
              attempts: 0, lease_owner: null, lease_until: null, last_error: null, payload: null, created_at: now,
            })))
            .onConflict((oc) => oc.columns(['action_seq', 'kind']).doNothing())
            .execute();
          n += expired.length;
        }
        return n;
      });
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

    async renewLeases(owner, jobIds, until) {
      if (jobIds.length === 0) return 0;
      const ids = jobIds.map(() => '?').join(', ');
      // PostgreSQL: rows another transaction holds are skipped, not waited for. Two workers' heartbeats
      // whose id lists overlap (a job one of them lost under load is still in flight there) would
      // otherwise wait on each other's rows and deadlock; a skipped job is renewed a beat later,
      // well within its lease, or was not ours any more.
      const text = caps.skipLocked
        ? `update jobs set lease_until = ? where id in (select id from jobs where lease_owner = ? and id in (${ids}) for update skip locked)`
        : `update jobs set lease_until = ? where lease_owner = ? and id in (${ids})`;
      const r = await runSql(leaseDb, caps, text, [until, owner, ...jobIds]);
      return Number(r.numAffectedRows ?? 0);
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

/** `leaseUntil`: a job kept by a leased step holds a whole lease from the end of that step. */
async function dispose(trx: Transaction<Database>, caps: DialectCapabilities, job: Job, d: JobDisposition, leaseUntil?: () => number): Promise<void> {
  switch (d.kind) {
    case 'finish':
      await runSql(trx, caps, 'delete from jobs where id = ?', [job.id]);
      return;
    case 'keep':
      await trx.updateTable('jobs').set({ payload: JSON.stringify(d.payload), ...(leaseUntil ? { lease_until: leaseUntil() } : {}) }).where('id', '=', job.id).execute();
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

/** The apply jobs of the given actions (a withdrawal drops its action's apply job if it is not running). */
async function readApplyJobs(trx: Transaction<Database>, caps: DialectCapabilities, actionSeqs: readonly number[]) {
  const jobs = new Map<number, { id: number; leaseOwner: string | null; leaseUntil: number | null }>();
  for (let i = 0; i < actionSeqs.length; i += 500) {
    const chunk = actionSeqs.slice(i, i + 500);
    const r = await runSql<{ id: number | string; action_seq: number | string; lease_owner: string | null; lease_until: number | string | null }>(
      trx, caps, `select id, action_seq, lease_owner, lease_until from jobs where kind = 'apply' and action_seq in (${chunk.map(() => '?').join(', ')})`, chunk,
    );
    for (const j of r.rows) jobs.set(Number(j.action_seq), { id: Number(j.id), leaseOwner: j.lease_owner, leaseUntil: j.lease_until === null ? null : Number(j.lease_until) });
  }
  return jobs;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function toJob(r: { id: number | string; tenant_id: string; action_seq: number | string; kind: string; provider: string; attempts: number; payload: string | null; last_error: string | null }): Job {
  return {
    id: Number(r.id),
    tenantId: r.tenant_id,
    actionSeq: Number(r.action_seq),
    kind: r.kind as Job['kind'],
    provider: r.provider,
    attempts: r.attempts,
    payload: r.payload ? (JSON.parse(r.payload) as Record<string, unknown>) : null,
    lastError: r.last_error,
  };
}
