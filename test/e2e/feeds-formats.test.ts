import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends } from '../helpers/backends.js';
import { startTestService, type TestService } from '../helpers/service.js';
import { createFeedToken } from '../helpers/unbound.js';

/**
 * The feeds provider as firewalls and resolvers read it: exact file contents, conditional GETs,
 * feed credentials (and only feed credentials), the change stream's long poll, and a database
 * failure that must never turn into an empty list.
 */
const collection = '/beta/security/securityActions';
const rpzTimers = { ttl: 30, refresh: 5, retry: 7, expire: 3600, minimum: 11 };

type Param = { name: string; value: string };
const act = (name: string, parameter: string, value: string): { name: string; parameters: Param[] } => ({ name, parameters: [{ name: parameter, value }] });

/** The mix: every indicator type, each in a spelling the normaliser has to fix. */
const mix = [
  act('BlockIp', 'IP', '203.0.113.7'),
  act('BlockIp', 'IP', '2001:DB8:0:0:0:0:0:1'), // → 2001:db8::1 (RFC 5952)
  act('BlockIp', 'IP', '198.51.100.77/24'), // → host bits cleared
  act('BlockIp', 'IP', '::ffff:192.0.2.55'), // IPv4-mapped → the IPv4 a firewall sees
  act('BlockIp', 'IP', '2001:db8:abcd:12::5/64'),
  act('BlockDomain', 'Domain', 'Evil.Example.'), // → evil.example, plus its wildcard
  act('BlockDomain', 'Domain', '*.wild.example'), // subdomains only: no bare entry
  act('BlockDomain', 'Domain', 'bücher.example'), // → punycode
  act('BlockUrl', 'Url', 'https://Evil.example:443/a?b=1#frag'),
  act('BlockUrl', 'Url', 'http://evil.example/a?b=1'), // same EDL entry as the https one
  act('BlockUrl', 'Url', 'https://x.example'),
  act('BlockFile', 'FileHash', 'D41D8CD98F00B204E9800998ECF8427E'),
  act('BlockFile', 'FileHash', 'DA39A3EE5E6B4B0D3255BFEF95601890AFD80709'),
  act('BlockFile', 'FileHash', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'),
];
const distinctIndicators = 14; // every entry above is a distinct indicator → 14 stream changes

const expected: Record<string, string> = {
  'ip.txt': '192.0.2.55\n198.51.100.0/24\n2001:db8::1\n2001:db8:abcd:12::/64\n203.0.113.7\n',
  'domain.txt': '*.evil.example\n*.wild.example\n*.xn--bcher-kva.example\nevil.example\nxn--bcher-kva.example\n',
  'url.txt': 'evil.example/a?b=1\nx.example/\n',
  'md5.txt': 'd41d8cd98f00b204e9800998ecf8427e\n',
  'sha1.txt': 'da39a3ee5e6b4b0d3255bfef95601890afd80709\n',
  'sha256.txt': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n',
  'rpz.zone': [
    '$TTL 30',
    `@ IN SOA localhost. hostmaster.localhost. ${distinctIndicators} 5 7 3600 11`,
    '@ IN NS localhost.',
    '*.evil.example CNAME .',
    '*.wild.example CNAME .',
    '*.xn--bcher-kva.example CNAME .',
    'evil.example CNAME .',
    'xn--bcher-kva.example CNAME .',
    '',
  ].join('\n'),
};

async function createAll(svc: TestService, token: string, bodies: { name: string; parameters: Param[] }[]): Promise<string[]> {
  const ids: string[] = [];
  for (const b of bodies) {
    const res = await svc.fetch(collection, { method: 'POST', token, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...b, actionReason: 'feeds test' }) });
    const json = (await res.json()) as Record<string, any>;
    expect(res.status, JSON.stringify(json)).toBe(201);
    ids.push(json['id']);
  }
  return ids;
}

async function waitCompleted(svc: TestService, token: string, ids: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (const id of ids) {
    for (;;) {
      const res = await svc.fetch(`${collection}/${id}`, { token });
      const a = (await res.json()) as Record<string, any>;
      if (a['status'] === 'Completed') break;
      if (a['status'] === 'Failed' || Date.now() > deadline) throw new Error(`action ${id}: ${JSON.stringify(a)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/**
 * Feeds list entries in stream order (docs/decisions/0011-feeds-at-scale.md): compare as sets —
 * the RPZ header (the first three lines) in place, every other line sorted.
 */
function asSet(text: string): string {
  const lines = text.split('\n').filter((l) => l !== '');
  const head = lines[0]?.startsWith('$TTL') ? lines.slice(0, 3) : [];
  return [...head, ...lines.slice(head.length).sort()].join('\n');
}

for (const backend of backends()) {
  describe(`feeds: formats, credentials, conditional GET, change stream (${backend.name})`, () => {
    let svc: TestService;
    let tenant: string;
    let api: string;
    let feed: string;
    const feedPath = (file: string, t = tenant) => `/feeds/${t}/${file}`;
    const get = (file: string, init: RequestInit & { token?: string } = {}) => svc.fetch(feedPath(file), { token: feed, ...init });

    beforeAll(async () => {
      svc = await startTestService({ backend, overrides: { feeds: { rpz: rpzTimers }, engine: { pollIntervalMs: 100 } } });
      tenant = svc.newTenant();
      api = await svc.token({ tenant, app: 'feeds-test' });
      feed = await createFeedToken(svc, tenant);
      await waitCompleted(svc, api, await createAll(svc, api, mix));
    });
    afterAll(async () => svc?.close());

    for (const file of Object.keys(expected)) {
      it(`serves ${file} with exactly the normalised entries`, async () => {
        const res = await get(file);
        const text = await res.text();
        expect(res.status, text).toBe(200);
        expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
        expect(res.headers.get('etag')).toMatch(/^W\/"[a-z0-9-]+-\d+(\.5)?"$/);
        expect(res.headers.get('warning')).toBeNull();
        expect(asSet(text)).toBe(asSet(expected[file]!));
      });
    }

    it('serves a tenant with no actions as empty lists and an RPZ with only SOA and NS (serial 0)', async () => {
      const other = svc.newTenant();
      const token = await createFeedToken(svc, other);
      for (const file of ['ip.txt', 'domain.txt', 'url.txt', 'md5.txt', 'sha1.txt', 'sha256.txt']) {
        const res = await svc.fetch(feedPath(file, other), { token });
        expect(res.status).toBe(200);
        expect(await res.text()).toBe('');
      }
      const rpz = await svc.fetch(feedPath('rpz.zone', other), { token });
      expect(await rpz.text()).toBe('$TTL 30\n@ IN SOA localhost. hostmaster.localhost. 0 5 7 3600 11\n@ IN NS localhost.\n');
      const unknown = await svc.fetch(feedPath('passwd', other), { token });
      expect(unknown.status).toBe(404);
      await unknown.text();
    });

    it('leaves out of rpz.zone (as comments) names too long for an RPZ trigger; domain.txt keeps them', async () => {
      const t = svc.newTenant();
      const apiT = await svc.token({ tenant: t });
      const feedT = await createFeedToken(svc, t);
      const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(58)}.example`; // 194 characters: fits as a domain, not under an RPZ origin
      const edge = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(51)}.example`; // 187 (+2 for "*.") = 189: the longest that fits
      await waitCompleted(svc, apiT, await createAll(svc, apiT, [act('BlockDomain', 'Domain', long), act('BlockDomain', 'Domain', edge), act('BlockDomain', 'Domain', 'short.example')]));
      const rpz = await (await svc.fetch(feedPath('rpz.zone', t), { token: feedT })).text();
      expect(asSet(rpz)).toBe(asSet(
        [
          '$TTL 30',
          '@ IN SOA localhost. hostmaster.localhost. 3 5 7 3600 11',
          '@ IN NS localhost.',
          `*.${edge} CNAME .`,
          '*.short.example CNAME .',
          `${edge} CNAME .`,
          'short.example CNAME .',
          `; omitted, too long for an RPZ trigger: *.${long}`,
          `; omitted, too long for an RPZ trigger: ${long}`,
          '',
        ].join('\n'),
      ));
      const domains = await (await svc.fetch(feedPath('domain.txt', t), { token: feedT })).text();
      expect(domains.split('\n')).toEqual(expect.arrayContaining([long, `*.${long}`, edge, 'short.example']));
    });

    it('answers If-None-Match with 304, and a change gives a new ETag (other files keep theirs)', async () => {
      const first = await get('ip.txt');
      const etag = first.headers.get('etag')!;
      const body = await first.text();
      const domainEtag = (await get('domain.txt')).headers.get('etag')!;
      const rpzEtag = (await get('rpz.zone')).headers.get('etag')!;

      const same = await get('ip.txt', { headers: { 'if-none-match': etag } });
      expect(same.status).toBe(304);
      expect(await same.text()).toBe('');
      expect(same.headers.get('etag')).toBe(etag);
      const listed = await get('ip.txt', { headers: { 'if-none-match': `"nope", ${etag}` } });
      expect(listed.status).toBe(304);
      await listed.text();
      // Weak comparison (RFC 9110 §13.1.2): the opaque tag matches with or without `W/`; `*` too.
      for (const header of [etag.replace(/^W\//, ''), '*']) {
        const res = await get('ip.txt', { headers: { 'if-none-match': header } });
        expect(res.status, header).toBe(304);
        await res.text();
      }
      const stale = await get('ip.txt', { headers: { 'if-none-match': '"nope"' } });
      expect(stale.status).toBe(200);
      expect(await stale.text()).toBe(body);

      await waitCompleted(svc, api, await createAll(svc, api, [act('BlockIp', 'IP', '198.18.7.7')]));
      const changed = await get('ip.txt', { headers: { 'if-none-match': etag } });
      expect(changed.status).toBe(200);
      const newEtag = changed.headers.get('etag');
      expect(newEtag).not.toBe(etag);
      expect(await changed.text()).toContain('198.18.7.7\n');
      expect((await get('ip.txt', { headers: { 'if-none-match': newEtag! } })).status).toBe(304);
      // domain.txt did not change, so its ETag did not either; rpz.zone's serial moved with the stream.
      expect((await get('domain.txt', { headers: { 'if-none-match': domainEtag } })).status).toBe(304);
      const rpz = await get('rpz.zone', { headers: { 'if-none-match': rpzEtag } });
      expect(rpz.status).toBe(200);
      expect(await rpz.text()).toMatch(new RegExp(`SOA localhost\\. hostmaster\\.localhost\\. ${distinctIndicators + 1} `));
    });

    it('accepts the feed credential as Bearer, as the Basic password, and as ?token=', async () => {
      const bearer = await svc.fetch(feedPath('md5.txt'), { headers: { authorization: `Bearer ${feed}` } });
      const basic = await svc.fetch(feedPath('md5.txt'), { headers: { authorization: `Basic ${Buffer.from(`firewall:${feed}`).toString('base64')}` } });
      const basicNoUser = await svc.fetch(feedPath('md5.txt'), { headers: { authorization: `Basic ${Buffer.from(`:${feed}`).toString('base64')}` } });
      const query = await svc.fetch(`${feedPath('md5.txt')}?token=${encodeURIComponent(feed)}`);
      for (const res of [bearer, basic, basicNoUser, query]) {
        expect(res.status).toBe(200);
        expect(await res.text()).toBe(expected['md5.txt']);
      }
    });

    it('refuses everything else with 401: no credential, a wrong one, API tokens, another tenant\'s feed credential', async () => {
      const otherTenant = svc.newTenant();
      const otherFeed = await createFeedToken(svc, otherTenant);
      const attempts: [string, RequestInit, string?][] = [
        ['none', {}],
        ['wrong bearer', { headers: { authorization: `Bearer bwf_${'A'.repeat(43)}` } }],
        ['wrong basic', { headers: { authorization: `Basic ${Buffer.from(`u:bwf_${'A'.repeat(43)}`).toString('base64')}` } }],
        ['wrong query', {}, `?token=bwf_${'A'.repeat(43)}`],
        ['API token as bearer', { headers: { authorization: `Bearer ${api}` } }],
        ['API token as query', {}, `?token=${api}`],
        ['API token as basic password', { headers: { authorization: `Basic ${Buffer.from(`u:${api}`).toString('base64')}` } }],
        ["another tenant's feed credential", { headers: { authorization: `Bearer ${otherFeed}` } }],
        ["another tenant's feed credential as query", {}, `?token=${otherFeed}`],
      ];
      for (const [label, init, query] of attempts) {
        for (const file of ['ip.txt', 'rpz.zone', 'changes']) {
          const res = await svc.fetch(`${feedPath(file)}${query ?? ''}`, init);
          const text = await res.text();
          expect(res.status, `${label} → ${file}: ${text}`).toBe(401);
          expect(text).not.toContain('203.0.113.7');
        }
      }
      // …while the other tenant's credential opens its own feed.
      expect((await svc.fetch(feedPath('ip.txt', otherTenant), { token: otherFeed })).status).toBe(200);
    });

    it('feed credentials open nothing else: the Graph API answers 401', async () => {
      for (const path of [collection, '/v1.0/security/securityActions', `${collection}/$count`, '/beta/security']) {
        for (const init of [{ token: feed }, { headers: { authorization: `Basic ${Buffer.from(`u:${feed}`).toString('base64')}` } }]) {
          const res = await svc.fetch(path, init);
          const text = await res.text();
          expect(res.status, `${path}: ${text}`).toBe(401);
        }
        const q = await svc.fetch(`${path}?token=${feed}`);
        expect(q.status, path).toBe(401);
        await q.text();
      }
      const post = await svc.fetch(collection, { method: 'POST', token: feed, headers: { 'content-type': 'application/json' }, body: JSON.stringify(act('BlockIp', 'IP', '198.18.9.9')) });
      expect(post.status).toBe(401);
      await post.text();
    });

    it('change stream: a snapshot without a cursor, then a long poll that answers within ~100 ms of a new action', async () => {
      const snap = await get('changes');
      const s = (await snap.json()) as { cursor: number; snapshot: boolean; added: { type: string; value: string }[]; removed: unknown[] };
      expect(snap.status).toBe(200);
      expect(s.snapshot).toBe(true);
      expect(s.added.map((a) => a.value)).toContain('203.0.113.7');

      // Nothing new: wait=1 returns empty at about the timeout.
      const t0 = Date.now();
      const idle = (await (await svc.fetch(`${feedPath('changes')}?since=${s.cursor}&wait=1`, { token: feed })).json()) as typeof s;
      const idleMs = Date.now() - t0;
      expect(idle).toMatchObject({ cursor: s.cursor, snapshot: false, added: [], removed: [] });
      expect(idleMs).toBeGreaterThanOrEqual(950);
      expect(idleMs).toBeLessThan(3000);

      // A new action wakes a 30 s poll at once.
      const polled = svc.fetch(`${feedPath('changes')}?since=${s.cursor}&wait=30`, { token: feed }).then(async (r) => ({ at: Date.now(), status: r.status, body: (await r.json()) as typeof s }));
      let settled = false;
      void polled.then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 200));
      expect(settled).toBe(false);
      const sent = Date.now();
      const [id] = await createAll(svc, api, [act('BlockIp', 'IP', '198.18.8.8')]);
      const created = Date.now();
      const r = await polled;
      const latency = r.at - sent;
      process.stdout.write(`[feeds ${backend.name}] long poll answered ${latency} ms after the POST was sent (POST took ${created - sent} ms)\n`);
      expect(r.status).toBe(200);
      expect(r.body.snapshot).toBe(false);
      expect(r.body.added).toEqual([{ type: 'ip', value: '198.18.8.8', expirationDateTime: null }]);
      expect(r.body.cursor).toBeGreaterThan(s.cursor);
      expect(latency).toBeLessThan(backend.name === 'sqlite' ? 300 : 500);
      await waitCompleted(svc, api, [id!]);
    });
  });

  describe(`feeds: a database failure never serves an empty feed (${backend.name})`, () => {
    let svc: TestService;
    let closedDb = false;
    afterAll(async () => {
      // The database handle is already closed; closing the service must still finish.
      await svc?.close();
    });

    it('serves the last complete list (marked stale) or 503 — never an empty 200', async () => {
      svc = await startTestService({ backend, overrides: { engine: { pollIntervalMs: 100 } } });
      const tenant = svc.newTenant();
      const unread = svc.newTenant();
      const api = await svc.token({ tenant });
      const feed = await createFeedToken(svc, tenant);
      const unreadFeed = await createFeedToken(svc, unread);
      await waitCompleted(svc, api, await createAll(svc, api, [act('BlockIp', 'IP', '203.0.113.9'), act('BlockDomain', 'Domain', 'stale.example')]));
      const ok = await svc.fetch(`/feeds/${tenant}/ip.txt`, { token: feed });
      const etag = ok.headers.get('etag');
      const body = await ok.text();
      expect(body).toBe('203.0.113.9\n');
      const rpzBefore = await (await svc.fetch(`/feeds/${tenant}/rpz.zone`, { token: feed })).text();

      await svc.service.database.close();
      closedDb = true;

      const checks: [string, string, string | undefined][] = [
        [tenant, 'ip.txt', body],
        [tenant, 'rpz.zone', rpzBefore],
        [tenant, 'domain.txt', undefined], // never rendered before, but the view is cached
        [unread, 'ip.txt', undefined], // never read: nothing to fall back on
        [unread, 'rpz.zone', undefined],
      ];
      for (const [t, file, before] of checks) {
        for (let i = 0; i < 2; i++) {
          const res = await svc.fetch(`/feeds/${t}/${file}`, { token: t === tenant ? feed : unreadFeed });
          const text = await res.text();
          const label = `${t === tenant ? 'read tenant' : 'unread tenant'} ${file}: ${res.status} ${text.slice(0, 200)}`;
          expect([200, 503], label).toContain(res.status);
          if (res.status === 200) {
            expect(text, label).not.toBe('');
            expect(res.headers.get('warning'), label).toMatch(/^110 /);
            if (before !== undefined) expect(text, label).toBe(before);
            if (file === 'domain.txt') expect(asSet(text)).toBe(asSet('*.stale.example\nstale.example\n'));
          } else {
            expect(res.headers.get('retry-after'), label).toMatch(/^\d+$/);
            expect(JSON.parse(text).error.code, label).toBe('ServiceUnavailable');
          }
        }
      }
      // The tenant whose feed was read before keeps getting its complete list.
      const stale = await svc.fetch(`/feeds/${tenant}/ip.txt`, { token: feed });
      expect(stale.status).toBe(200);
      expect(await stale.text()).toBe(body);
      // A conditional GET from a reader that already has it still gets 304.
      expect((await svc.fetch(`/feeds/${tenant}/ip.txt`, { token: feed, headers: { 'if-none-match': etag! } })).status).toBe(304);
      // The never-read tenant cannot be served anything complete: 503, not an empty 200.
      const none = await svc.fetch(`/feeds/${unread}/ip.txt`, { token: unreadFeed });
      expect(none.status).toBe(503);
      await none.text();
      // The change stream cannot be served from memory: 503 (retry), never an empty batch.
      for (const query of ['', '?since=0', '?since=1&wait=1']) {
        const res = await svc.fetch(`/feeds/${tenant}/changes${query}`, { token: feed });
        const text = await res.text();
        expect(res.status, `changes${query}: ${text}`).toBe(503);
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      }
      // A credential never seen before cannot be checked without the database: refused, not served.
      const unknown = await svc.fetch(`/feeds/${tenant}/ip.txt`, { token: `bwf_${'B'.repeat(43)}` });
      expect([401, 503]).toContain(unknown.status);
      await unknown.text();
      expect(closedDb).toBe(true);
    });
  });
}
