import type { Kysely } from 'kysely';
import type { ProviderWorkStats } from '../ports.js';
import type { Database } from './schema.js';

export function createSqlProviderWorkStats(db: Kysely<Database>): ProviderWorkStats {
  return {
    async actionsByStatus() {
      const rows = await db.selectFrom('actions').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('status').execute();
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    },
    async pending(tenantId, provider) {
      const [jobs, last, waiting] = await Promise.all([
        db
          .selectFrom('jobs')
          .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.countAll<number>().filterWhere('last_error', 'is not', null).as('retrying')])
          .where('tenant_id', '=', tenantId)
          .where('provider', '=', provider)
          .executeTakeFirstOrThrow(),
        db
          .selectFrom('jobs')
          .select('last_error')
          .where('tenant_id', '=', tenantId)
          .where('provider', '=', provider)
          .where('last_error', 'is not', null)
          .orderBy('id', 'desc')
          .limit(1)
          .executeTakeFirst(),
        db.selectFrom('confirmations').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', tenantId).where('provider', '=', provider).executeTakeFirstOrThrow(),
      ]);
      return { jobs: Number(jobs.n), retrying: Number(jobs.retrying), lastError: last?.last_error ?? null, waitingForAgents: Number(waiting.n) };
    },
  };
}
