import { CompiledQuery, sql, type Compilable, type Kysely, type Transaction } from 'kysely';
import type { FilterNode } from '../../odata/ast.js';
import type { DialectCapabilities } from '../dialects.js';
import type { Notifier } from '../notifier.js';
import type { ActionStore, CancelOutcome, ListPage, ListQuery, SecurityAction, SecurityActionState } from '../ports.js';
import type { Database } from './schema.js';
import { actionSelection, actionToRow, rowFromValues, rowToAction, stateJson, type ActionSelection } from './action-rows.js';
import { filterToSql } from './filter-to-sql.js';
import { afterPosition, orderByClauses } from './keyset.js';
import { sortKeyFor } from './action-columns.js';
import { GroupCommit } from './group-commit.js';
import { retryTransient } from './transient.js';
import type { PostgresReader } from './postgres-reader.js';
import { scanBudgetFunction, type SqliteReader } from './sqlite-reader.js';

export interface SqlActionStoreOptions {
  db: Kysely<Database>;
  caps: DialectCapabilities;
  /** SQLite: get, list and count read through this connection instead of `db` (sqlite-reader.ts). */
  reader?: SqliteReader | undefined;
  /** PostgreSQL: list and count run here, within its time limits (postgres-reader.ts). */
  postgresReader?: PostgresReader | undefined;
  notifier: Notifier;
  now?: () => number;
}

export function createSqlActionStore(options: SqlActionStoreOptions): ActionStore {
  const { db, caps, notifier, reader } = options;
  const now = options.now ?? Date.now;
  const postgresReader = options.postgresReader;
  /** A list or count query without the SQLite reader: on PostgreSQL's read pool when there is one. */
  const readQuery = async <R>(query: Compilable<R>, signal: AbortSignal | undefined): Promise<R[]> => {
    const compiled = query.compile();
    return postgresReader ? postgresReader.rows<R>(compiled.sql, compiled.parameters, signal) : (await db.executeQuery(compiled)).rows;
  };

  const creates = new GroupCommit<{ action: SecurityAction; work: { provider: string } | null }>(async (items) => {
    await retryTransient(() => db.transaction().execute((trx) => insertActions(trx, items)));
    const withWork = items.filter((i) => i.work);
    if (withWork.length > 0) {
      const expiries = withWork.map((i) => i.action.expiresAt).filter((e): e is number => e !== null);
      notifier.notify('jobs', expiries.length > 0 ? `expires:${Math.min(...expiries)}` : '');
    }
  });

  // The hottest read: compiled by Kysely once (dialect quoting and placeholders), then only bound.
  const getByIdSql = db.selectFrom('actions').select(actionSelection).where('tenant_id', '=', '').where('id', '=', '').compile().sql;

  const versionSql = 'select version from action_versions where tenant_id = ?';

  const base = (tenantId: string, filter?: FilterNode) => {
    let q = db.selectFrom('actions').where('actions.tenant_id', '=', tenantId);
    // Right after the tenant, ahead of the filter: counts every row SQLite examines (sqlite-reader.ts).
    if (reader) q = q.where(sql<boolean>`${sql.raw(scanBudgetFunction)}(actions.seq)`);
    if (filter) q = q.where((eb) => filterToSql(eb, filter, caps));
    return q;
  };

  return {
    create(action: SecurityAction, work: { provider: string } | null): Promise<void> {
      return creates.submit({ action, work });
    },

    async get(tenantId, id) {
      const row = reader
        ? await retryTransient(async () => reader.row<ActionSelection>(getByIdSql, [tenantId, id]))
        : (await retryTransient(() => db.executeQuery<ActionSelection>(CompiledQuery.raw(getByIdSql, [tenantId, id])))).rows[0];
      return row ? rowToAction(row) : undefined;
    },

    async list(tenantId: string, query: ListQuery): Promise<ListPage> {
      let q = base(tenantId, query.filter).select(actionSelection);
      if (query.after) {
        const after = query.after;
        q = q.where(() => afterPosition(query.orderBy, after));
      }
      for (const clause of orderByClauses(query.orderBy)) q = q.orderBy(clause);
      q = q.limit(query.top + 1);
      if (query.skip && !query.after) q = q.offset(query.skip);
      const rows = query.top === 0 ? [] : await retryTransient(async () => {
        if (!reader) return readQuery(q, query.signal);
        const compiled = q.compile();
        return (await reader.values(compiled.sql, compiled.parameters, query.signal)).map(rowFromValues);
      });
      const more = rows.length > query.top;
      const page = more ? rows.slice(0, query.top) : rows;
      const items = page.map(rowToAction);
      const last = page.at(-1);
      if (!more || !last) return { items };
      const values = query.orderBy.map((k) => sortKeyFor(k.property).valueOf(last as unknown as Record<string, unknown>));
      return { items, next: { values, seq: Number(last.seq) } };
    },

    async count(tenantId, filter, signal) {
      const q = base(tenantId, filter).select((eb) => eb.fn.countAll<number | string>().as('n'));
      const row = await retryTransient(async () => {
        if (!reader) return (await readQuery(q, signal))[0]!;
        const compiled = q.compile();
        return (await reader.aggregate<{ n: number }>(compiled.sql, compiled.parameters, signal))!;
      });
      return Number(row.n);
    },

    async dataVersion(tenantId) {
      // Kept by SQLite's triggers (migration 002), read on the read connection; PostgreSQL has neither.
      if (!reader) return undefined;
      const row = await retryTransient(async () => reader.row<{ version: number }>(versionSql, [tenantId]));
      return row?.version ?? 0;
    },

    async cancel(tenantId: string, id: string, state: SecurityActionState): Promise<CancelOutcome> {
      // One clock: the state's time is also cancelledDateTime and lastActionDateTime.
      const outcome = await retryTransient(() => db.transaction().execute((trx) => cancelInTransaction(trx, caps, tenantId, id, state, state.updatedAt)));
      if (outcome.queued) notifier.notify('jobs', '');
      return outcome.result;
    },
  };
}

async function cancelInTransaction(
  trx: Transaction<Database>,
  caps: DialectCapabilities,
  tenantId: string,
  id: string,
  state: SecurityActionState,
  at: number,
): Promise<{ result: CancelOutcome; queued: boolean }> {
  let select = trx.selectFrom('actions').select(['seq', 'status', 'cancelled_at', 'provider']).where('tenant_id', '=', tenantId).where('id', '=', id);
  if (caps.rowLocks) select = select.forUpdate();
  const action = await select.executeTakeFirst();
  if (!action) return { result: 'notFound', queued: false };
  if (action.cancelled_at !== null) return { result: 'alreadyCancelled', queued: false };

  const seq = Number(action.seq);
  // Never dispatched (no attempt made, nobody holds it): drop the work; the action ends here. A job
  // an engine has locked right now is skipped, not waited for (the engine waits for this action's
  // row: waiting here would deadlock); it counts as dispatched and gets a withdrawal.
  let undispatched = trx
    .selectFrom('jobs')
    .select('id')
    .where('action_seq', '=', seq)
    .where('kind', '=', 'apply')
    .where('attempts', '=', 0)
    .where((eb) => eb.or([eb('lease_until', 'is', null), eb('lease_until', '<', at)]));
  if (caps.skipLocked) undispatched = undispatched.forUpdate().skipLocked();
  const dropped = await trx.deleteFrom('jobs').where('id', 'in', undispatched).executeTakeFirst();
  if (Number(dropped.numDeletedRows) > 0) {
    const ended: SecurityActionState = { ...state, status: 'NotStarted', reason: 'cancelled before dispatch; nothing was sent to a provider' };
    await trx
      .updateTable('actions')
      .set({ cancelled_at: at, completed_at: at, last_action_at: at, states: caps.appendJsonSql('states', stateJson(ended)) })
      .where('seq', '=', seq)
      .execute();
    return { result: 'cancelled', queued: false };
  }

  const withdrawing: SecurityActionState = { ...state, status: 'Running', reason: state.reason ?? 'cancel requested; withdrawing' };
  await trx
    .updateTable('actions')
    .set({ cancelled_at: at, status: 'Running', completed_at: null, last_action_at: at, states: caps.appendJsonSql('states', stateJson(withdrawing)) })
    .where('seq', '=', seq)
    .execute();
  await trx
    .insertInto('jobs')
    .values({
      tenant_id: tenantId, action_seq: seq, kind: 'withdraw', provider: action.provider ?? '', run_at: at, attempts: 0,
      lease_owner: null, lease_until: null, last_error: null, payload: null, created_at: at,
    })
    .onConflict((oc) => oc.columns(['action_seq', 'kind']).doNothing())
    .execute();
  return { result: 'cancelled', queued: true };
}

/** Rows per INSERT statement, well inside SQLite's 32,766 bound parameters (actions have 28 columns). */
const insertChunk = 500;

/** Inserts a batch of new actions with their parameter rows and engine work, in the caller's transaction. */
async function insertActions(trx: Transaction<Database>, items: { action: SecurityAction; work: { provider: string } | null }[]): Promise<void> {
  for (let i = 0; i < items.length; i += insertChunk) {
    const chunk = items.slice(i, i + insertChunk);
    const inserted = await trx.insertInto('actions').values(chunk.map((c) => actionToRow(c.action))).returning(['id', 'seq']).execute();
    const seqOf = new Map(inserted.map((r) => [r.id, Number(r.seq)]));
    const params = chunk.flatMap(({ action }) =>
      action.parameters.map((p) => ({ action_seq: seqOf.get(action.id)!, tenant_id: action.tenantId, name: p.name, value: p.value })),
    );
    for (let j = 0; j < params.length; j += insertChunk) await trx.insertInto('action_parameters').values(params.slice(j, j + insertChunk)).execute();
    const jobs = chunk
      .filter((c) => c.work)
      .map(({ action, work }) => ({
        tenant_id: action.tenantId, action_seq: seqOf.get(action.id)!, kind: 'apply', provider: work!.provider, run_at: action.createdAt,
        attempts: 0, lease_owner: null, lease_until: null, last_error: null, payload: null, created_at: action.createdAt,
      }));
    if (jobs.length > 0) await trx.insertInto('jobs').values(jobs).execute();
  }
}
