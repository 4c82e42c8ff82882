import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteBackend } from '../helpers/backends.js';
import { requireTools } from '../helpers/e2e-require.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { createFeedToken, startUnbound, type Unbound } from '../helpers/unbound.js';

/**
 * A real Unbound loads the tenant's `rpz.zone` from the running service over HTTP (`url:` with
 * `?token=`), and `dig` against it sees every block, cancel and expiry.
 */
const req = requireTools('Unbound RPZ end-to-end', ['unbound', 'unbound-control', 'dig']);

const zone = 'example.test';
const rpz = 'rpz.bulwark';
const wrongRpz = 'rpz.wrongtoken';
const records = {
  bad: '192.0.2.10',
  'sub.bad': '192.0.2.11',
  good: '192.0.2.20',
  tmp: '192.0.2.30',
  overlap: '192.0.2.40',
  'x.overlap': '192.0.2.41',
};
const collection = '/beta/security/securityActions';

describe.skipIf(!req.available)(req.title, () => {
  let svc: TestService;
  let ub: Unbound;
  let tenant: string;
  let apiToken: string;
  let feedUrl: string;
  let wrongUrl: string;
  /** every serial the feed served, in order: must be strictly increasing */
  const serials: number[] = [];
  const latencies: Record<string, number> = {};

  beforeAll(async () => {
    svc = await startTestService({ backend: sqliteBackend, overrides: { engine: { pollIntervalMs: 200 } } });
    tenant = svc.newTenant();
    apiToken = await svc.token({ tenant, app: 'rpz-e2e' });
    const feedToken = await createFeedToken(svc, tenant, 'unbound');
    feedUrl = `${svc.url}/feeds/${tenant}/rpz.zone?token=${feedToken}`;
    wrongUrl = `${svc.url}/feeds/${tenant}/rpz.zone?token=bwf_${'0'.repeat(43)}`;
    ub = await startUnbound({ zone, records, rpz: [{ name: rpz, url: feedUrl }, { name: wrongRpz, url: wrongUrl }], tools: req.tools, verbosity: 4 }); // 4: HTTP status and transfer results are logged
    serials.push(await servedSerial());
    await ub.refresh(rpz, serials[0]!);
  });

  afterAll(async () => {
    if (Object.keys(latencies).length > 0) process.stdout.write(`[unbound-rpz] latencies (ms): ${JSON.stringify(latencies)}\n`);
    await ub?.stop();
    await svc?.close();
  });

  /** The SOA serial of rpz.zone as the service serves it now. */
  async function servedSerial(): Promise<number> {
    const res = await fetch(feedUrl);
    const text = await res.text();
    expect(res.status, text).toBe(200);
    const m = /^@ IN SOA \S+ \S+ (\d+) /m.exec(text);
    expect(m, text).not.toBeNull();
    return Number(m![1]);
  }

  /** Records a new serial (must be higher than every earlier one) and has Unbound load it. */
  async function publishToUnbound(): Promise<number> {
    const serial = await servedSerial();
    expect(serial).toBeGreaterThan(serials.at(-1)!);
    serials.push(serial);
    await ub.refresh(rpz, serial);
    expect((await ub.zones()).get(rpz)).toBe(serial);
    return serial;
  }

  async function create(domain: string, extra: { name: string; value: string }[] = []): Promise<Record<string, any>> {
    const res = await svc.fetch(collection, {
      method: 'POST',
      token: apiToken,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'BlockDomain', actionReason: 'rpz e2e', parameters: [{ name: 'Domain', value: domain }, ...extra] }),
    });
    const body = (await res.json()) as Record<string, any>;
    expect(res.status, JSON.stringify(body)).toBe(201);
    return body;
  }

  async function get(id: string): Promise<Record<string, any>> {
    const res = await svc.fetch(`${collection}/${id}`, { token: apiToken });
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, any>;
  }

  async function cancel(id: string): Promise<void> {
    const res = await svc.fetch(`${collection}/${id}/cancelSecurityAction`, { method: 'POST', token: apiToken });
    expect(res.status).toBe(200);
  }

  /** Polls the action until `done` holds (bounded). */
  async function waitFor(id: string, done: (a: Record<string, any>) => boolean, what: string, timeoutMs = 10_000): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const a = await get(id);
      if (done(a)) return a;
      if (Date.now() > deadline) throw new Error(`action ${id} never became ${what}: ${JSON.stringify(a)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const completed = (id: string) => waitFor(id, (a) => a['status'] === 'Completed', 'Completed');
  /** Completed again after a cancel or expiry, with the withdrawal recorded. */
  const withdrawn = (id: string) =>
    waitFor(id, (a) => a['status'] === 'Completed' && /withdrawn|nothing was in force/.test(a['states'].at(-1)?.reason ?? '') && a['states'].length > 3, 'withdrawn');

  async function expectResolves(name: string, address: string): Promise<void> {
    const r = await ub.dig(name);
    expect(r.rcode, `${name}: ${JSON.stringify(r)}`).toBe('NOERROR');
    expect(r.addresses).toEqual([address]);
  }
  async function expectBlocked(name: string): Promise<void> {
    const r = await ub.dig(name);
    expect(r.rcode, `${name}: ${JSON.stringify(r)}`).toBe('NXDOMAIN');
    expect(r.answers).toEqual([]);
  }

  it('blocks a domain and its subdomains with NXDOMAIN, leaves others alone, and resolves again after cancel', async () => {
    await expectResolves('bad.example.test', records.bad);
    await expectResolves('sub.bad.example.test', records['sub.bad']);
    await expectResolves('good.example.test', records.good);

    const t0 = Date.now();
    const action = await create('bad.example.test');
    await completed(action['id']);
    latencies['post→Completed'] = Date.now() - t0;
    const tUnbound = Date.now();
    await publishToUnbound();
    latencies['Completed→unbound loaded'] = Date.now() - tUnbound;
    await expectBlocked('bad.example.test');
    latencies['post→NXDOMAIN'] = Date.now() - t0;
    await expectBlocked('sub.bad.example.test');
    await expectResolves('good.example.test', records.good);
    // Unbound itself says the policy applied (rpz-log), not some other NXDOMAIN source.
    await eventually(() => expect(ub.log()).toMatch(/rpz: applied \[rpz\.bulwark\] bad\.example\.test\. rpz-nxdomain/));

    const t1 = Date.now();
    await cancel(action['id']);
    const after = await withdrawn(action['id']);
    expect(after['cancelledDateTime']).toBeTruthy();
    await publishToUnbound();
    await expectResolves('bad.example.test', records.bad);
    latencies['cancel→resolves'] = Date.now() - t1;
    await expectResolves('sub.bad.example.test', records['sub.bad']);
  });

  it('withdraws a block with a Duration at expiry: the normal answer returns, the states show the expiry', async () => {
    await expectResolves('tmp.example.test', records.tmp);
    const action = await create('tmp.example.test', [{ name: 'Duration', value: 'PT3S' }]);
    const expiresAt = Date.parse(action['expirationDateTime']);
    expect(expiresAt).toBeGreaterThan(Date.now());
    await completed(action['id']);
    await publishToUnbound();
    await expectBlocked('tmp.example.test');

    const done = await waitFor(action['id'], (a) => a['states'].some((s: any) => /expired at/.test(s.reason ?? '')) && a['status'] === 'Completed', 'expired', 10_000);
    const withdrawnAt = Date.now();
    const reasons: string[] = done['states'].map((s: any) => `${s.status}: ${s.reason}`);
    const expiredIndex = reasons.findIndex((r) => /expired at/.test(r));
    expect(reasons.slice(expiredIndex + 1).some((r) => /^Completed: withdrawn/.test(r)), reasons.join('\n')).toBe(true);
    const expiryState = done['states'][expiredIndex];
    // Withdrawn within a second of its expiry.
    expect(Date.parse(expiryState.updatedDateTime) - expiresAt).toBeLessThan(1000);
    expect(Date.parse(expiryState.updatedDateTime)).toBeGreaterThanOrEqual(expiresAt);
    await publishToUnbound();
    await expectResolves('tmp.example.test', records.tmp);
    latencies['expiry→resolves'] = Date.now() - expiresAt;
    latencies['withdrawn→resolves'] = Date.now() - withdrawnAt;
  });

  it('counts overlapping blocks: cancelling one keeps NXDOMAIN, cancelling both resolves', async () => {
    await expectResolves('overlap.example.test', records.overlap);
    const a = await create('overlap.example.test');
    const b = await create('overlap.example.test');
    await Promise.all([completed(a['id']), completed(b['id'])]);
    await publishToUnbound();
    await expectBlocked('overlap.example.test');
    await expectBlocked('x.overlap.example.test');

    await cancel(a['id']);
    const afterA = await withdrawn(a['id']);
    expect(afterA['states'].at(-1).reason).toMatch(/stays blocked by 1 other active action/);
    // The cancel changes nothing that is published; publish an unrelated change so Unbound provably
    // reloads a zone newer than the cancel, then check the name is still blocked.
    const marker = await create('marker.example.test');
    await completed(marker['id']);
    await publishToUnbound();
    await expectBlocked('overlap.example.test');
    await expectBlocked('x.overlap.example.test');

    await cancel(b['id']);
    await withdrawn(b['id']);
    await publishToUnbound();
    await expectResolves('overlap.example.test', records.overlap);
    await expectResolves('x.overlap.example.test', records['x.overlap']);
  });

  it('raised the SOA serial with every change, and Unbound served exactly that serial', () => {
    // start, +bad, -bad, +tmp, -tmp (expiry), +overlap, +marker, -overlap
    expect(serials).toHaveLength(8);
    for (let i = 1; i < serials.length; i++) expect(serials[i]!).toBeGreaterThan(serials[i - 1]!);
  });

  it('a blocked domain too long for an RPZ trigger does not truncate the zone for the others', async () => {
    // 248 characters: a valid domain, but "<it>.rpz.bulwark." exceeds 253. Unbound stops parsing a
    // zone at the first such line, and `*.<it>` sorts before everything else.
    const long = `${['a', 'b', 'c', 'd'].map((c) => c.repeat(60)).join('.')}.example`;
    await expectResolves('good.example.test', records.good);
    const a = await create(long);
    const b = await create('good.example.test');
    await Promise.all([completed(a['id']), completed(b['id'])]);
    await publishToUnbound();
    await expectBlocked('good.example.test');
    expect(ub.log()).not.toMatch(/Domainname length overflow/);
    await cancel(a['id']);
    await cancel(b['id']);
    await Promise.all([withdrawn(a['id']), withdrawn(b['id'])]);
    await publishToUnbound();
    await expectResolves('good.example.test', records.good);
  });

  it('fetched with the ?token= credential: a wrong token is refused (401) and that zone never loads', async () => {
    // The good zone loaded from a URL whose only credential is ?token= (Unbound sends no headers),
    // and Unbound kept the query string when it fetched.
    expect((await ub.zones()).get(rpz)).toBe(serials.at(-1));
    const goodPath = feedUrl.slice(svc.url.length + 1).replace(/[?.]/g, (c) => `\\${c}`);
    expect(ub.log()).toMatch(new RegExp(`http download ${goodPath} of size \\d+`));
    // The same request Unbound makes for the wrong token, answered by the service:
    const res = await fetch(wrongUrl, { headers: { 'user-agent': 'unbound/1.17.1' } });
    expect(res.status).toBe(401);
    await res.text();
    const before = ub.log().length;
    await ub.transfer(wrongRpz);
    await eventually(() => {
      const log = ub.log().slice(before);
      expect(log).toMatch(/http bad status 401 Unauthorized/);
      expect(log).toMatch(/auth zone rpz\.wrongtoken\. transfer failed/);
    }, 5000);
    expect((await ub.zones()).get(wrongRpz)).toBeNull();
  });
});

async function eventually(check: () => void, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
