import type { Kysely } from 'kysely';
import type { IndicatorType } from '../../domain/indicators/indicator.js';
import type { Change, LedgerEntry, LedgerStore } from '../ports.js';
import type { Database } from './schema.js';

export function createSqlLedgerStore(db: Kysely<Database>): LedgerStore {
  return {
    async snapshot(tenantId, provider) {
      // One consistent read: the entries and the cursor they correspond to.
      return db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute(async (trx) => {
          const head = await trx.selectFrom('streams').select('head_seq').where('tenant_id', '=', tenantId).where('provider', '=', provider).executeTakeFirst();
          const rows = await trx
            .selectFrom('ledger')
            .select(['indicator_type', 'indicator', 'refcount', 'expires_at', 'change_seq'])
            .where('tenant_id', '=', tenantId)
            .where('provider', '=', provider)
            .where('refcount', '>', 0)
            .execute();
          const entries: LedgerEntry[] = rows.map((r) => ({
            indicator: { type: r.indicator_type as IndicatorType, value: r.indicator },
            refcount: r.refcount,
            expiresAt: r.expires_at === null ? null : Number(r.expires_at),
            changeSeq: Number(r.change_seq),
          }));
          return { cursor: head ? Number(head.head_seq) : 0, entries };
        });
    },

    async changesSince(tenantId, provider, since, limit) {
      const head = await db.selectFrom('streams').select(['head_seq', 'pruned_through']).where('tenant_id', '=', tenantId).where('provider', '=', provider).executeTakeFirst();
      const headSeq = head ? Number(head.head_seq) : 0;
      if (since > headSeq) return { changes: [], cursor: headSeq, tooOld: true };
      if (head && since < Number(head.pruned_through)) return { changes: [], cursor: headSeq, tooOld: true };
      const rows = await db
        .selectFrom('changes')
        .select(['seq', 'op', 'indicator_type', 'indicator', 'expires_at'])
        .where('tenant_id', '=', tenantId)
        .where('provider', '=', provider)
        .where('seq', '>', since)
        .orderBy('seq')
        .limit(limit)
        .execute();
      const changes: Change[] = rows.map((r) => ({
        seq: Number(r.seq),
        op: r.op as Change['op'],
        indicator: { type: r.indicator_type as IndicatorType, value: r.indicator },
        expiresAt: r.expires_at === null ? null : Number(r.expires_at),
      }));
      return { changes, cursor: changes.at(-1)?.seq ?? Math.max(since, headSeq), tooOld: false };
    },

    async stats(tenantId, provider) {
      const [count, head] = await Promise.all([
        db.selectFrom('ledger').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', tenantId).where('provider', '=', provider).executeTakeFirstOrThrow(),
        db.selectFrom('streams').select('head_seq').where('tenant_id', '=', tenantId).where('provider', '=', provider).executeTakeFirst(),
      ]);
      return { entries: Number(count.n), cursor: head ? Number(head.head_seq) : 0 };
    },
  };
}
