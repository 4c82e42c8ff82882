import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook } from '../../src/providers/webhook/webhook-provider.js';
import { sqliteBackend } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { startWebhookReceiver, type Delivery, type WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * The webhook provider against a real HTTP receiver that verifies every signature: deliveries,
 * retries after injected 500s and timeouts, permanent 4xx failures, withdrawals on cancel and
 * expiry, and overlap counting.
 */
const secret = 'x'.repeat(32);
const collection = '/beta/security/securityActions';
const timeoutMs = 300;
const engine = { backoffBaseMs: 50, backoffMaxMs: 400, maxAttempts: 5, pollIntervalMs: 50 };

describe('webhook provider delivering to a real receiver', () => {
  let receiver: WebhookReceiver;
  let svc: TestService;
  let token: string;
  let tenant: string;

  beforeAll(async () => {
    receiver = await startWebhookReceiver({ secret });
    svc = await startTestService({
      backend: sqliteBackend,
      overrides: {
        providers: [
          { type: 'feeds', provider: 'feeds' },
          { type: 'webhook', provider: 'soar', endpoint: receiver.url, secret, timeoutMs },
          { type: 'webhook', provider: 'soar-wrong-key', endpoint: receiver.url, secret: 'y'.repeat(32), timeoutMs },
        ],
        engine,
      },
    });
    tenant = svc.newTenant();
    token = await svc.token({ tenant, app: 'webhook-e2e' });
  });
  afterAll(async () => {
    await svc?.close();
    await receiver?.close();
  });

  const randomIp = () => `198.18.${randomInt(0, 256)}.${randomInt(1, 255)}`;
  const forIp = (ip: string) => (d: Pick<Delivery, 'body'>) => d.body?.indicator?.value === ip;
  const deliveriesFor = (ip: string) => receiver.deliveries.filter(forIp(ip));

  async function create(ip: string, extra: { name: string; value: string }[] = [], provider = 'soar'): Promise<Record<string, any>> {
    const res = await svc.fetch(collection, {
      method: 'POST',
      token,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'BlockIp', actionReason: 'webhook e2e', vendorInformation: { provider }, parameters: [{ name: 'IP', value: ip }, ...extra] }),
    });
    const body = (await res.json()) as Record<string, any>;
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body['vendorInformation'].provider).toBe(provider);
    return body;
  }
  async function get(id: string): Promise<Record<string, any>> {
    const res = await svc.fetch(`${collection}/${id}`, { token });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, any>;
  }
  async function cancel(id: string): Promise<void> {
    const res = await svc.fetch(`${collection}/${id}/cancelSecurityAction`, { method: 'POST', token });
    expect(res.status).toBe(200);
  }
  async function waitFor(id: string, done: (a: Record<string, any>) => boolean, what: string, ms = 10_000): Promise<Record<string, any>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const a = await get(id);
      if (done(a)) return a;
      if (Date.now() > deadline) throw new Error(`action ${id} never became ${what}: ${JSON.stringify(a)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const terminal = (id: string) => waitFor(id, (a) => a['status'] === 'Completed' || a['status'] === 'Failed', 'Completed or Failed');
  /** Completed again after a cancel or expiry (the last state is the withdrawal's outcome). */
  const withdrawn = (id: string) =>
    waitFor(id, (a) => a['status'] === 'Completed' && a['states'].length > 3 && /withdrawn|delivered|nothing was in force/.test(a['states'].at(-1).reason), 'withdrawn');
  /** Lets anything still in flight arrive, so "no more deliveries" assertions mean something. */
  const settle = () => new Promise((r) => setTimeout(r, 4 * engine.pollIntervalMs + 100));

  it('delivers exactly one signed block with the action in the body, then Completed', async () => {
    const ip = randomIp();
    const action = await create(ip);
    const done = await terminal(action['id']);
    expect(done['status']).toBe('Completed');
    expect(done['states'].at(-1).reason).toMatch(/block delivered to soar \(webhook answered 200\)/);
    await settle();
    const mine = deliveriesFor(ip);
    expect(mine).toHaveLength(1);
    const d = mine[0]!;
    expect(d.signatureValid).toBe(true);
    expect(d.key).toBe(`${action['id']}:block`);
    expect(receiver.acceptedFor(d.key)).toBe(1);
    expect(d.attempt).toBe(1);
    expect(d.event).toBe('block');
    expect(d.body).toMatchObject({ event: 'block', tenantId: tenant, indicator: { type: 'ip', value: ip }, action: { id: action['id'], name: 'BlockIp', actionReason: 'webhook e2e' } });
    expect(typeof d.body.sequence).toBe('number');
    expect(Math.abs(Number(d.timestamp) - Date.now() / 1000)).toBeLessThan(5);
  });

  it('retries injected 500s and a timeout with backoff and the same idempotency key, then Completed', async () => {
    const ip = randomIp();
    receiver.inject(2, { status: 500 }, forIp(ip));
    receiver.inject(1, { hangMs: timeoutMs * 4 }, forIp(ip));
    const action = await create(ip);
    const done = await terminal(action['id']);
    expect(done['status'], JSON.stringify(done['states'])).toBe('Completed');
    await settle();
    const mine = deliveriesFor(ip);
    expect(mine.map((d) => d.answered)).toEqual([500, 500, 'hang', 200]);
    expect(mine.map((d) => d.attempt)).toEqual([1, 2, 3, 4]);
    expect(new Set(mine.map((d) => d.key))).toEqual(new Set([`${action['id']}:block`]));
    expect(mine.every((d) => d.signatureValid)).toBe(true);
    expect(receiver.attemptsFor(`${action['id']}:block`)).toBe(4);
    expect(receiver.acceptedFor(`${action['id']}:block`)).toBe(1);
    // Equal-jitter backoff: the n-th retry waits at least half of base·2^(n-1); the timed-out
    // attempt additionally took the provider timeout before its retry was scheduled.
    const gaps = mine.slice(1).map((d, i) => d.at - mine[i]!.at);
    const minimum = [engine.backoffBaseMs / 2, engine.backoffBaseMs, (engine.backoffBaseMs * 2) / 2 + timeoutMs];
    gaps.forEach((g, i) => expect(g, `gap ${i + 1} of ${JSON.stringify(gaps)}`).toBeGreaterThanOrEqual(minimum[i]! - 5));
    expect(gaps[1]!).toBeGreaterThanOrEqual(gaps[0]! * 0.5);
    process.stdout.write(`[webhook] retry gaps (ms) after 500, 500, timeout: ${JSON.stringify(gaps)}\n`);
  });

  it('fails on a 4xx with errorInfo.code = the status; the failed block does not count as active', async () => {
    const ip = randomIp();
    receiver.inject(1, { status: 422 }, forIp(ip));
    const failed = await terminal((await create(ip))['id']);
    expect(failed['status']).toBe('Failed');
    expect(failed['errorInfo']).toMatchObject({ code: 422 });
    expect(failed['errorInfo'].message).toMatch(/422/);
    expect(failed['completedDateTime']).toBeTruthy();
    expect(deliveriesFor(ip)).toHaveLength(1); // a 4xx is not retried

    // A second action for the same IP still delivers a block …
    const second = await create(ip);
    expect((await terminal(second['id']))['status']).toBe('Completed');
    expect(deliveriesFor(ip).filter((d) => d.key === `${second['id']}:block` && d.answered === 200)).toHaveLength(1);
    // … and cancelling it unblocks: nothing else (not the failed one) keeps the IP blocked.
    await cancel(second['id']);
    await withdrawn(second['id']);
    await receiver.waitUntil((all) => all.some((d) => d.key === `${second['id']}:unblock` && d.answered === 200), 5000, 'the unblock');
  });

  it(`fails with the last error after maxAttempts (${engine.maxAttempts}) answers of 500`, async () => {
    const ip = randomIp();
    receiver.inject(engine.maxAttempts, { status: 500 }, forIp(ip));
    const action = await create(ip);
    const done = await terminal(action['id']);
    expect(done['status']).toBe('Failed');
    expect(done['errorInfo'].message).toMatch(new RegExp(`gave up after ${engine.maxAttempts} attempts: webhook answered 500`));
    await settle();
    const mine = deliveriesFor(ip);
    expect(mine.map((d) => d.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(mine.every((d) => d.answered === 500 && d.key === `${action['id']}:block`)).toBe(true);
  });

  it('delivers an unblock on cancel', async () => {
    const ip = randomIp();
    const action = await create(ip);
    expect((await terminal(action['id']))['status']).toBe('Completed');
    await cancel(action['id']);
    const after = await withdrawn(action['id']);
    expect(after['states'].at(-1).reason).toMatch(/unblock delivered to soar/);
    await settle();
    const mine = deliveriesFor(ip);
    expect(mine.map((d) => d.key)).toEqual([`${action['id']}:block`, `${action['id']}:unblock`]);
    const [block, unblock] = mine as [Delivery, Delivery];
    expect(unblock.signatureValid).toBe(true);
    expect(unblock.event).toBe('unblock');
    expect(unblock.body.action.id).toBe(action['id']);
    expect(unblock.body.action.cancelledDateTime).toBeTruthy();
    expect(unblock.body.sequence).toBeGreaterThan(block.body.sequence);
  });

  it('counts overlapping blocks: two blocks, cancel one → no unblock, cancel both → one unblock', async () => {
    const ip = randomIp();
    const a = await create(ip);
    const b = await create(ip);
    expect((await terminal(a['id']))['status']).toBe('Completed');
    expect((await terminal(b['id']))['status']).toBe('Completed');
    expect(deliveriesFor(ip).map((d) => d.key).sort()).toEqual([`${a['id']}:block`, `${b['id']}:block`].sort());

    await cancel(a['id']);
    const afterA = await withdrawn(a['id']);
    expect(afterA['states'].at(-1).reason).toMatch(/stays blocked at soar by 1 other active action/);
    await settle();
    expect(deliveriesFor(ip).filter((d) => d.event === 'unblock')).toEqual([]);

    await cancel(b['id']);
    await withdrawn(b['id']);
    await settle();
    const unblocks = deliveriesFor(ip).filter((d) => d.event === 'unblock');
    expect(unblocks.map((d) => d.key)).toEqual([`${b['id']}:unblock`]);
  });

  it('a cancel while the block is still being retried stops the block and withdraws once', async () => {
    const ip = randomIp();
    receiver.inject(3, { status: 503 }, forIp(ip));
    const action = await create(ip);
    await receiver.waitUntil((all) => all.some((d) => forIp(ip)(d) && d.answered === 503), 5000, 'the first failed block');
    await cancel(action['id']);
    const done = await withdrawn(action['id']);
    expect(done['cancelledDateTime']).toBeTruthy();
    await settle();
    const mine = deliveriesFor(ip);
    const accepted = mine.filter((d) => d.answered === 200);
    // The block is never retried after the cancel took it over; whatever reached the receiver is undone.
    expect(accepted.filter((d) => d.event === 'block').length).toBeLessThanOrEqual(1);
    expect(accepted.filter((d) => d.event === 'unblock').map((d) => d.key)).toEqual([`${action['id']}:unblock`]);
    const lastBlock = Math.max(...mine.filter((d) => d.event === 'block').map((d) => d.at));
    const firstUnblock = Math.min(...mine.filter((d) => d.event === 'unblock').map((d) => d.at));
    expect(firstUnblock).toBeGreaterThan(lastBlock);
    process.stdout.write(`[webhook] cancel during retries: ${JSON.stringify(mine.map((d) => `${d.event}#${d.attempt}:${d.answered}`))}; final: ${done['states'].at(-1).reason}\n`);
  });

  it('delivers an unblock at expiry, recorded in the states', async () => {
    const ip = randomIp();
    const action = await create(ip, [{ name: 'Duration', value: 'PT2S' }]);
    const expiresAt = Date.parse(action['expirationDateTime']);
    expect((await terminal(action['id']))['status']).toBe('Completed');
    const [unblock] = (await receiver.waitUntil((all) => all.some((d) => d.key === `${action['id']}:unblock`), 6000, 'the expiry unblock')).filter(
      (d) => d.key === `${action['id']}:unblock`,
    );
    expect(unblock!.signatureValid).toBe(true);
    expect(unblock!.at).toBeGreaterThanOrEqual(expiresAt);
    expect(unblock!.at - expiresAt).toBeLessThan(1500);
    process.stdout.write(`[webhook] expiry → unblock delivered after ${unblock!.at - expiresAt} ms\n`);
    const after = await withdrawn(action['id']);
    const reasons = after['states'].map((s: any) => s.reason as string);
    expect(reasons.some((r: string) => /expired at/.test(r))).toBe(true);
    expect(reasons.at(-1)).toMatch(/unblock delivered to soar/);
  });

  it('the receiver detects tampering: wrong secret, altered body, stale timestamp', async () => {
    const body = JSON.stringify({ event: 'block', sequence: 1, tenantId: tenant, indicator: { type: 'ip', value: '198.18.0.1' }, action: { id: 'tamper' } });
    const now = String(Math.floor(Date.now() / 1000));
    const post = async (raw: string, timestamp: string, signature: string) => {
      const res = await fetch(receiver.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'tamper:block', 'x-bulwark-timestamp': timestamp, 'x-bulwark-signature': signature },
        body: raw,
      });
      await res.text();
      return res.status;
    };
    const before = receiver.rejected;
    expect(await post(body, now, signWebhook(secret, now, body))).toBe(200);
    expect(await post(body, now, signWebhook('z'.repeat(32), now, body))).toBe(401);
    expect(await post(body.replace('198.18.0.1', '198.18.0.2'), now, signWebhook(secret, now, body))).toBe(401);
    const old = String(Number(now) - 3600);
    expect(await post(body, old, signWebhook(secret, old, body))).toBe(401);
    expect(await post(body, now, 'v1=nothex')).toBe(401);
    expect(receiver.rejected - before).toBe(4);

    // End to end: a provider configured with another secret is refused, and the action fails with
    // the receiver's 401 as errorInfo.code.
    const ip = randomIp();
    const action = await create(ip, [], 'soar-wrong-key');
    const done = await terminal(action['id']);
    expect(done['status']).toBe('Failed');
    expect(done['errorInfo']).toMatchObject({ code: 401 });
    const mine = deliveriesFor(ip);
    expect(mine).toHaveLength(1);
    expect(mine[0]!.signatureValid).toBe(false);
    expect(mine[0]!.rejectedBecause).toBe('signature mismatch');
    expect(receiver.rejected - before).toBe(5);
  });
});
