/**
 * Shared set-up for the storage suites: a fresh database per backend, hand-built `SecurityAction`s
 * whose property values come from the filter generator's vocabulary (so generated filters really
 * match), and the mapping from an action to what the in-memory OData oracle sees.
 */
import type { OrderByKey } from '../../src/odata/ast.js';
import type { FilterSubject } from '../../src/odata/evaluate.js';
import { compareForOrder } from '../../src/odata/evaluate.js';
import { securityActionProperties } from '../../src/odata/property-map.js';
import type { OperationStatus } from '../../src/domain/operation-status.js';
import type { KeyValuePair, SecurityAction } from '../../src/domain/security-action.js';
import type { ActionStore, KeysetPosition, ListQuery } from '../../src/storage/ports.js';
import { statusRank } from '../../src/storage/sql/action-columns.js';
import { createSqlActionStore } from '../../src/storage/sql/action-store.js';
import { openDatabase, type DatabaseHandle } from '../../src/storage/sql/database.js';
import type { SqliteReaderOptions } from '../../src/storage/sql/sqlite-reader.js';
import type { Backend } from '../helpers/backends.js';
import { filterVocabulary, type Rng } from '../odata/filter-generator.js';

export interface OpenStore {
  store: ActionStore;
  handle: DatabaseHandle;
  close(): Promise<void>;
}

/** A migrated, empty database on `backend` and an ActionStore over it. */
export async function openStore(backend: Backend, sqliteReader?: SqliteReaderOptions): Promise<OpenStore> {
  const storage = await backend.fresh();
  const cleanup = () => storage.cleanup();
  let handle: DatabaseHandle;
  try {
    handle = await openDatabase({
      dataDir: storage.dataDir,
      databaseUrl: storage.databaseUrl,
      schema: storage.databaseSchema,
      // One fsync per create() would dominate the run time; durability is not under test here.
      sqliteSynchronous: 'NORMAL',
      poolSize: 4,
      sqliteReader,
    });
  } catch (e) {
    await cleanup();
    throw e;
  }
  const store = createSqlActionStore({ db: handle.db, caps: handle.caps, reader: handle.reader, postgresReader: handle.postgresReader, notifier: handle.notifier });
  return {
    store,
    handle,
    async close() {
      try {
        await handle.close();
      } finally {
        await cleanup();
      }
    },
  };
}

/**
 * Stored string values: the generator's literals (so `eq`/`in` hit) plus strings that CONTAIN its
 * needles and the characters SQL translations get wrong: LIKE wildcards, quotes, backslashes,
 * mixed case, U+E000/U+FFFD vs an emoji (UTF-16 and code-point order disagree), the empty string.
 */
export const storedStrings: readonly string[] = [
  ...filterVocabulary.strings,
  '100%', 'a%b', '%%', '%_', 'x_y', '_id', "it's", "''", "O''Brien", 'C:\\temp\\x', '\\\\', 'ip\\%', '\\_',
  'BLOCKIP', 'BlockIpX', 'blocked', 'Blockchain', 'Domain.com', 'Microsoft.com', 'microsoft', 'soft', 'e', 'E', 'ée',
  'ex\uE000', 'ex😀', '😀😀', '\uE000😀', '😀\uE000', '\uFFFD', 'z\uFFFD', 'é😀', '203.0.113.77', '203.0.113.7 ', ' 203.0.113.7',
];

const parameterNames: readonly string[] = [...filterVocabulary.parameterNames, 'Ip', 'ExpirationDateTime', 'IP ', '%', '_'];

/** Dates around the generator's, with exact ties and ±1 ms neighbours. */
const storedDates: readonly number[] = [...filterVocabulary.dates, ...filterVocabulary.dates.map((d) => d + 1), 1704067200000 - 1, 1735689600000];

export function pick<T>(rng: Rng, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

const maybe = <T>(rng: Rng, pNull: number, value: () => T): T | null => (rng() < pNull ? null : value());

/** Fills every field an ActionStore persists; `overrides` win. */
export function buildAction(overrides: Partial<SecurityAction> & Pick<SecurityAction, 'tenantId' | 'id'>): SecurityAction {
  const createdAt = overrides.createdAt ?? 1704067200000;
  const status: OperationStatus = overrides.status ?? 'NotStarted';
  return {
    name: 'BlockIp',
    actionReason: null,
    appId: null,
    user: null,
    clientContext: null,
    status,
    parameters: [],
    indicator: { type: 'ip', value: '203.0.113.7' },
    vendorInformation: { provider: null, providerVersion: null, subProvider: null, vendor: null },
    errorInfo: null,
    createdAt,
    lastActionAt: createdAt,
    completedAt: null,
    cancelledAt: null,
    expiresAt: null,
    states: [{ appId: overrides.appId ?? null, status, updatedAt: createdAt, user: overrides.user ?? null, reason: null }],
    extra: {},
    ...overrides,
  };
}

/**
 * `count` random actions for `tenantId`, ids `${idPrefix}-<n>`. Every nullable column is NULL about
 * a quarter of the time; values repeat a lot, so sorts have ties and filters have partial matches.
 */
export function generateActions(rng: Rng, count: number, tenantId: string, idPrefix: string): SecurityAction[] {
  const str = () => pick(rng, storedStrings);
  const date = () => pick(rng, storedDates);
  return Array.from({ length: count }, (_, i) => {
    const parameterCount = rng() < 0.2 ? 0 : 1 + Math.floor(rng() * 4);
    const parameters: KeyValuePair[] = Array.from({ length: parameterCount }, () => ({
      name: rng() < 0.8 ? pick(rng, parameterNames) : str(),
      value: maybe(rng, 0.15, str),
    }));
    // Some actions take a vocabulary string as their id (still unique), so `id eq '…'` has hits.
    const vocabularyId = filterVocabulary.strings[i];
    const id = vocabularyId !== undefined && rng() < 0.6 ? vocabularyId : `${idPrefix}-${i}`;
    return buildAction({
      tenantId,
      id,
      name: str(),
      status: pick(rng, filterVocabulary.statuses),
      actionReason: maybe(rng, 0.25, str),
      appId: maybe(rng, 0.25, str),
      user: maybe(rng, 0.25, str),
      clientContext: maybe(rng, 0.25, str),
      parameters,
      vendorInformation: {
        provider: maybe(rng, 0.25, str),
        providerVersion: maybe(rng, 0.25, str),
        subProvider: maybe(rng, 0.25, str),
        vendor: maybe(rng, 0.25, str),
      },
      createdAt: date(),
      lastActionAt: date(),
      completedAt: maybe(rng, 0.35, date),
      cancelledAt: maybe(rng, 0.5, date),
      expiresAt: maybe(rng, 0.35, date),
    });
  });
}

/** Stores `actions` one by one, in order (so `seq` follows array order). */
export async function insertAll(store: ActionStore, actions: readonly SecurityAction[]): Promise<void> {
  for (const action of actions) await store.create(action, null);
}

/** The stored value of an OData property, as the oracle sees it: strings, epoch ms, or null. */
export function propertyValue(a: SecurityAction, property: string): string | number | null {
  switch (property) {
    case 'id': return a.id;
    case 'name': return a.name;
    case 'status': return a.status;
    case 'actionReason': return a.actionReason;
    case 'appId': return a.appId;
    case 'azureTenantId': return a.tenantId;
    case 'clientContext': return a.clientContext;
    case 'user': return a.user;
    case 'createdDateTime': return a.createdAt;
    case 'lastActionDateTime': return a.lastActionAt;
    case 'completedDateTime': return a.completedAt;
    case 'cancelledDateTime': return a.cancelledAt;
    case 'expirationDateTime': return a.expiresAt;
    case 'vendorInformation/provider': return a.vendorInformation.provider;
    case 'vendorInformation/vendor': return a.vendorInformation.vendor;
    case 'vendorInformation/subProvider': return a.vendorInformation.subProvider;
    case 'vendorInformation/providerVersion': return a.vendorInformation.providerVersion;
    default:
      throw new Error(`store-fixture: no mapping for property '${property}'; add it to propertyValue`);
  }
}

export function subjectOf(a: SecurityAction): FilterSubject {
  return { get: (property) => propertyValue(a, property), parameters: a.parameters };
}

/** What `$orderby` sorts by: the value, except `status`, which sorts by enum member number. */
export function sortValue(a: SecurityAction, property: string): string | number | null {
  if (property === 'status') return statusRank[a.status] ?? null;
  return propertyValue(a, property);
}

/**
 * The full in-memory order of `actions` (given in insertion order, i.e. `seq` order) under `keys`:
 * {@link compareForOrder} per key, then insertion order in the direction of the last key.
 */
export function sortInMemory(actions: readonly SecurityAction[], keys: readonly OrderByKey[]): SecurityAction[] {
  const seq = new Map(actions.map((a, i) => [a, i]));
  const tiebreak = keys.at(-1)?.direction === 'desc' ? -1 : 1;
  return [...actions].sort((a, b) => {
    for (const k of keys) {
      const c = compareForOrder(sortValue(a, k.property), sortValue(b, k.property), k.direction);
      if (c !== 0) return c;
    }
    return tiebreak * (seq.get(a)! - seq.get(b)!);
  });
}

export const filterableProperties = Object.entries(securityActionProperties).filter(([, i]) => i.filterable).map(([p]) => p);
export const sortableProperties = Object.entries(securityActionProperties).filter(([, i]) => i.sortable).map(([p]) => p);

/**
 * Every page of `query`, following `next` to the end. The position travels through JSON exactly as
 * the `$skiptoken` carries it, and every option (including `skip`) is repeated on every page, as
 * `@odata.nextLink` repeats them.
 */
export async function listAllPages(
  store: ActionStore,
  tenantId: string,
  query: Omit<ListQuery, 'after'>,
  maxPages = 10_000,
): Promise<{ pages: SecurityAction[][]; items: SecurityAction[] }> {
  const pages: SecurityAction[][] = [];
  let after: KeysetPosition | undefined;
  for (;;) {
    const page = await store.list(tenantId, { ...query, after });
    pages.push(page.items);
    if (!page.next) break;
    if (pages.length >= maxPages) throw new Error(`more than ${maxPages} pages: paging does not terminate`);
    after = JSON.parse(JSON.stringify(page.next)) as KeysetPosition;
  }
  return { pages, items: pages.flat() };
}
