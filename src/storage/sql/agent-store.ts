import { sql, type Kysely, type Transaction } from 'kysely';
import { errors } from '../../domain/errors.js';
import type { DialectCapabilities } from '../dialects.js';
import type { AgentStore } from '../ports.js';
import type { Database } from './schema.js';
import { stateJson } from './action-rows.js';
import { retryTransient } from './transient.js';

export function createSqlAgentStore(db: Kysely<Database>, caps: DialectCapabilities): AgentStore {
  return {
    async confirm(agent, cursor, now) {
      return retryTransient(() => db.transaction().execute(async (trx) => {
        let select = trx.selectFrom('credentials').select(['confirmed_seq', 'revoked_at']).where('id', '=', agent.id);
        if (caps.rowLocks) select = select.forUpdate();
        const row = await select.executeTakeFirst();
        if (!row || row.revoked_at !== null) throw errors.unauthenticated('The agent credential is not valid.');
        const head = await trx.selectFrom('streams').select('head_seq').where('tenant_id', '=', agent.tenantId).where('provider', '=', agent.provider).executeTakeFirst();
        const headSeq = head ? Number(head.head_seq) : 0;
        if (cursor > headSeq) throw errors.badRequest(`cursor ${cursor} is ahead of the change stream (head ${headSeq}); take a snapshot.`);
        const prev = row.confirmed_seq === null ? 0 : Number(row.confirmed_seq);
        const next = Math.max(prev, cursor);
        await trx.updateTable('credentials').set({ confirmed_seq: next, last_seen_at: now }).where('id', '=', agent.id).execute();
        if (next > prev) {
          // Each agent's confirmation is visible in the history of the actions it covers.
          const state = stateJson({ appId: null, status: 'Running', updatedAt: now, user: null, reason: `agent ${agent.name} of ${agent.provider} applied the change stream through cursor ${next}` });
          await trx
            .updateTable('actions')
            .set({ states: caps.appendJsonSql('states', state), last_action_at: now })
            .where('seq', 'in', (eb) =>
              eb
                .selectFrom('confirmations')
                .select('action_seq')
                .where('tenant_id', '=', agent.tenantId)
                .where('provider', '=', agent.provider)
                .where('change_seq', '>', prev)
                .where('change_seq', '<=', next),
            )
            .execute();
        }
        const completed = await settleIn(trx, caps, agent.tenantId, agent.provider, now);
        return { confirmed: next, completed };
      }));
    },

    settle(tenantId, provider, now) {
      return retryTransient(() => db.transaction().execute((trx) => settleIn(trx, caps, tenantId, provider, now)));
    },

    async prune(before) {
      return db.transaction().execute(async (trx) => {
        const doomed = await trx
          .selectFrom('changes as c')
          .innerJoin('streams as s', (j) => j.onRef('s.tenant_id', '=', 'c.tenant_id').onRef('s.provider', '=', 'c.provider'))
          .select(['c.tenant_id', 'c.provider', (eb) => eb.fn.max('c.seq').as('upto')])
          .where('c.created_at', '<', before)
          .whereRef('c.seq', '<', 's.head_seq')
          .groupBy(['c.tenant_id', 'c.provider'])
          .execute();
        let n = 0;
        for (const d of doomed) {
          const r = await trx.deleteFrom('changes').where('tenant_id', '=', d.tenant_id).where('provider', '=', d.provider).where('seq', '<=', Number(d.upto)).executeTakeFirst();
          n += Number(r.numDeletedRows);
          await trx
            .updateTable('streams')
            .set((eb) => ({ pruned_through: sql<number>`case when ${eb.ref('pruned_through')} > ${Number(d.upto)} then ${eb.ref('pruned_through')} else ${Number(d.upto)} end` }))
            .where('tenant_id', '=', d.tenant_id)
            .where('provider', '=', d.provider)
            .execute();
        }
        return n;
      });
    },
  };
}

/** Completes every waiting action whose change all registered agents have confirmed. */
async function settleIn(trx: Transaction<Database>, caps: DialectCapabilities, tenantId: string, provider: string, now: number): Promise<number> {
  const agents = await trx
    .selectFrom('credentials')
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.min(eb.fn.coalesce('confirmed_seq', eb.lit(0))).as('min')])
    .where('tenant_id', '=', tenantId)
    .where('kind', '=', 'agent')
    .where('provider', '=', provider)
    .where('revoked_at', 'is', null)
    .executeTakeFirstOrThrow();
  const count = Number(agents.n);
  if (count === 0) return 0;
  const min = Number(agents.min ?? 0);
  let completed = 0;
  for (const kind of ['apply', 'withdraw'] as const) {
    const waiting = trx
      .selectFrom('confirmations')
      .select('action_seq')
      .where('tenant_id', '=', tenantId)
      .where('provider', '=', provider)
      .where('kind', '=', kind)
      .where('change_seq', '<=', min);
    const reason = kind === 'apply' ? `enforced: confirmed by all ${count} agent(s) of ${provider}` : `withdrawn: removal confirmed by all ${count} agent(s) of ${provider}`;
    const state = stateJson({ appId: null, status: 'Completed', updatedAt: now, user: null, reason });
    const r = await trx
      .updateTable('actions')
      .set({ status: 'Completed', completed_at: now, last_action_at: now, states: caps.appendJsonSql('states', state) })
      .where('seq', 'in', waiting)
      .executeTakeFirst();
    completed += Number(r.numUpdatedRows);
    await trx.deleteFrom('confirmations').where('tenant_id', '=', tenantId).where('provider', '=', provider).where('kind', '=', kind).where('change_seq', '<=', min).execute();
  }
  return completed;
}
