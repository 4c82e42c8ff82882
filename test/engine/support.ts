import { createHmac, randomInt, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { expect } from 'vitest';
import type { Kysely } from 'kysely';
import { Engine } from '../../src/engine/engine.js';
import type { EngineSettings } from '../../src/engine/engine-settings.js';
import { buildProviderRegistry } from '../../src/main.js';
import { createSqlEngineStore } from '../../src/storage/sql/engine-store.js';
import type { Database } from '../../src/storage/sql/schema.js';
import type { TestService } from '../helpers/service.js';

export const collection = '/beta/security/securityActions';
export const item = (id: string) => `${collection}/${id}`;
export const cancelPath = (id: string) => `${item(id)}/cancelSecurityAction`;

/** Test-range addresses (TEST-NET / benchmarking), never protected by the default guardrails. */
export function randomIp(): string {
  return `198.18.${randomInt(0, 256)}.${randomInt(1, 255)}`;
}

export function blockIp(ip: string, options: { provider?: string; duration?: string; expiration?: string } = {}): Record<string, unknown> {
  const parameters = [{ name: 'IP', value: ip }];
  if (options.duration) parameters.push({ name: 'Duration', value: options.duration });
  if (options.expiration) parameters.push({ name: 'ExpirationDateTime', value: options.expiration });
  return {
    name: 'BlockIp',
    actionReason: 'engine test',
    parameters,
    ...(options.provider !== undefined ? { vendorInformation: { provider: options.provider } } : {}),
  };
}

export function blockDomain(domain: string, provider?: string): Record<string, unknown> {
  return { name: 'BlockDomain', parameters: [{ name: 'Domain', value: domain }], ...(provider ? { vendorInformation: { provider } } : {}) };
}

export type ActionJson = Record<string, any> & {
  id: string;
  status: string;
  states: { appId: string | null; status: string; updatedDateTime: string; user: string | null; reason: string | null }[];
};

export async function post(svc: { fetch: TestService['fetch'] }, token: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await svc.fetch(collection, { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Creates an action; fails the test unless the answer is 201. */
export async function create(svc: { fetch: TestService['fetch'] }, token: string, body: unknown): Promise<ActionJson> {
  const r = await post(svc, token, body);
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body as ActionJson;
}

export async function getAction(svc: { fetch: TestService['fetch'] }, token: string, id: string): Promise<ActionJson> {
  const res = await svc.fetch(item(id), { token });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return JSON.parse(text) as ActionJson;
}

export async function cancel(svc: { fetch: TestService['fetch'] }, token: string, id: string): Promise<void> {
  const res = await svc.fetch(cancelPath(id), { method: 'POST', token });
  expect(res.status, await res.text()).toBe(200);
}

/** Polls `probe` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 10_000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Waits until the action satisfies `ok`, returning it. */
export function waitForAction(svc: { fetch: TestService['fetch'] }, token: string, id: string, what: string, ok: (a: ActionJson) => boolean, timeoutMs = 10_000): Promise<ActionJson> {
  return waitFor(`action ${id} ${what}`, async () => {
    const a = await getAction(svc, token, id);
    return ok(a) ? a : undefined;
  }, timeoutMs);
}

export const ended = (a: ActionJson) => a.completedDateTime !== null;
/** Ended after a withdrawal (cancel or expiry) was requested: the last state follows a "withdrawing" one. */
export const withdrawalEnded = (a: ActionJson) =>
  a.completedDateTime !== null && a.states.some((s) => /withdrawing$/.test(s.reason ?? '')) && a.states.at(-1)!.status !== 'Running';

/** The `[status, reason]` pairs of an action's history. */
export const history = (a: ActionJson) => a.states.map((s) => [s.status, s.reason] as const);
export const ms = (iso: string | null) => (iso === null ? NaN : Date.parse(iso));

/**
 * The invariants every action obeys whatever happened: states are in time order, the first is the
 * creation, `lastActionDateTime` is the time of the last state, `status` the last state's status, and
 * `completedDateTime` (when set) the time of the last state.
 */
export function expectConsistentHistory(a: ActionJson, options: { cancelClockSkewMs?: number } = {}): void {
  const times = a.states.map((s) => ms(s.updatedDateTime));
  // A cancel's state and its cancelledDateTime come from two clock reads (a known bug, asserted
  // exactly by "cancel records one time" in lifecycle.test.ts); other checks tolerate that skew.
  const skew = options.cancelClockSkewMs ?? 0;
  for (let i = 1; i < times.length; i++) expect(times[i]! + skew, `states[${i}] of ${JSON.stringify(history(a))}`).toBeGreaterThanOrEqual(times[i - 1]!);
  expect(a.states[0]).toMatchObject({ status: 'NotStarted', reason: 'created' });
  expect(ms(a.states[0]!.updatedDateTime)).toBe(ms(a.createdDateTime));
  expect(Math.abs(ms(a.lastActionDateTime) - times.at(-1)!)).toBeLessThanOrEqual(skew);
  expect(a.status).toBe(a.states.at(-1)!.status);
  if (a.completedDateTime !== null) expect(Math.abs(ms(a.completedDateTime) - times.at(-1)!)).toBeLessThanOrEqual(skew);
}

/** A feed credential made the way `bulwark feeds credential` makes it. */
export async function feedToken(svc: TestService, tenant: string): Promise<string> {
  return (await svc.credentials().createFeedCredential(tenant, 'engine-test-reader')).token;
}

/** `GET /feeds/{tenant}/{file}` with a feed credential, as lines. */
export async function feedLines(svc: { url: string }, tenant: string, token: string, file = 'ip.txt'): Promise<string[]> {
  const res = await fetch(`${svc.url}/feeds/${tenant}/${file}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return text.split('\n').filter((l) => l !== '');
}

/** Ledger rows of one tenant and provider: indicator → refcount. */
export async function ledgerCounts(db: Kysely<Database>, tenant: string, provider = 'feeds'): Promise<Map<string, { refcount: number; expiresAt: number | null }>> {
  const rows = await db.selectFrom('ledger').select(['indicator', 'refcount', 'expires_at']).where('tenant_id', '=', tenant).where('provider', '=', provider).execute();
  return new Map(rows.map((r) => [r.indicator, { refcount: Number(r.refcount), expiresAt: r.expires_at === null ? null : Number(r.expires_at) }]));
}

export async function jobCount(db: Kysely<Database>, tenant?: string): Promise<number> {
  let q = db.selectFrom('jobs').select((eb) => eb.fn.countAll<number>().as('n'));
  if (tenant) q = q.where('tenant_id', '=', tenant);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

/** A real engine on the service's database, for tests that start the service without one. */
export function startEngine(svc: TestService, settings: Partial<EngineSettings> = {}): Engine {
  const { db, caps, notifier } = svc.service.database;
  const engine = new Engine({
    store: createSqlEngineStore({ db, caps, notifier }),
    providers: buildProviderRegistry(svc.config, { baseUrl: svc.url }),
    notifier,
    logger: pino({ level: process.env['BULWARK_TEST_LOG'] ?? 'silent' }),
    settings: { ...svc.config.engine, ...settings },
  });
  engine.start();
  return engine;
}

export interface Delivery {
  key: string;
  event: string;
  attempt: number;
  at: number;
  signatureValid: boolean;
  body: any;
}

export type Responder = (d: Delivery, nthForKey: number) => Promise<number> | number;

/**
 * A webhook receiver: verifies each delivery's signature, records it, and answers with whatever
 * `respond` says (a status code, after any delay it chooses).
 */
export async function startReceiver(secret: string, respond: Responder = () => 200): Promise<{
  url: string;
  deliveries: Delivery[];
  byKey(key: string): Delivery[];
  setResponder(r: Responder): void;
  close(): Promise<void>;
}> {
  const deliveries: Delivery[] = [];
  let responder = respond;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const timestamp = String(req.headers['x-bulwark-timestamp'] ?? '');
      const expected = `v1=${createHmac('sha256', secret).update(`${timestamp}.${raw}`).digest('hex')}`;
      const got = String(req.headers['x-bulwark-signature'] ?? '');
      const d: Delivery = {
        key: String(req.headers['idempotency-key'] ?? ''),
        event: String(req.headers['x-bulwark-event'] ?? ''),
        attempt: Number(req.headers['x-bulwark-attempt'] ?? 0),
        at: Date.now(),
        signatureValid: got.length === expected.length && timingSafeEqual(Buffer.from(got), Buffer.from(expected)),
        body: raw ? JSON.parse(raw) : undefined,
      };
      deliveries.push(d);
      const nth = deliveries.filter((x) => x.key === d.key).length;
      Promise.resolve(responder(d, nth)).then(
        (status) => {
          if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json' }).end('{}');
        },
        () => res.destroy(),
      );
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    deliveries,
    byKey: (key) => deliveries.filter((d) => d.key === key),
    setResponder: (r) => (responder = r),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export const sleep = (msDelay: number) => new Promise((r) => setTimeout(r, msDelay));

/** `Promise.withResolvers` (Node 22+) for Node 20. */
export function deferred<T = void>(): { promise: Promise<T>; resolve(v: T): void; reject(e: unknown): void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}
