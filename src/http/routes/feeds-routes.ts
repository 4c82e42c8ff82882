import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors, isBulwarkError } from '../../domain/errors.js';
import type { ProviderRegistry } from '../../providers/registry.js';
import type { ChangeStreamService } from '../../services/change-stream-service.js';
import type { CredentialService } from '../../services/credential-service.js';
import type { FeedService } from '../../services/feed-service.js';
import { presentedCredential } from '../credential-auth.js';
import { feedEtag, feedVersion, isFeedFile, renderFeed, type FeedFile, type RpzSettings } from '../wire/feed-formats.js';
import { changeBatchToJson, parseChangeQuery } from '../wire/change-batch-json.js';
import type { Metrics } from '../../metrics/metrics.js';

export interface FeedRouteDeps {
  feeds: FeedService;
  changes: ChangeStreamService;
  credentials: CredentialService;
  providers: ProviderRegistry;
  rpz: RpzSettings;
  metrics: Metrics;
}

/**
 * `/feeds/{tenantId}/{file}` (the default feeds provider) and `/feeds/{tenantId}/{provider}/{file}`,
 * read with a feed credential; `ETag`/`If-None-Match` → 304. `/feeds/{tenantId}/changes` is the same
 * data as a change stream.
 */
export function registerFeedRoutes(app: FastifyInstance, deps: FeedRouteDeps): void {
  // Bodies kept as UTF-8 bytes: every reader of a version is sent the same Buffer, not a string
  // encoded again per request (~8 ms for 1,000,000 addresses).
  const cache = new Map<string, { version: number; body: Buffer }>();
  app.addHook('onResponse', async (request, reply) => {
    const url = request.routeOptions.url ?? '';
    if (!url.startsWith('/feeds/')) return;
    const file = (request.params as { file?: string }).file ?? '';
    if (file === 'changes') return;
    deps.metrics.feedRequests.inc({ file: isFeedFile(file) ? file : 'other', status: String(reply.statusCode) });
  });

  const verifyFeedCredential = feedCredentialVerifier(deps.credentials);

  const serve = async (request: FastifyRequest, reply: FastifyReply, tenantId: string, providerName: string | undefined, file: string) => {
    const credential = await verifyFeedCredential(request, tenantId);
    request.logContext = { tenant: tenantId, app: `feed:${credential.name}` };
    const provider = feedsProvider(deps.providers, tenantId, providerName);
    if (!isFeedFile(file)) throw errors.notFound(`Unknown feed file '${file.slice(0, 40)}'; available: ip.txt, domain.txt, url.txt, sha256.txt, sha1.txt, md5.txt, rpz.zone.`);
    const view = await deps.feeds.view(tenantId, provider);
    const key = `${tenantId}\n${provider}\n${file}`;
    const version = feedVersion(file as FeedFile, view);
    const etag = feedEtag(file as FeedFile, version);
    reply.header('etag', etag).header('cache-control', 'no-cache');
    if (view.stale) reply.header('warning', '110 - "Response is stale: the database is unreachable"');
    // An unchanged feed is answered without rendering anything.
    if (noneMatch(request.headers['if-none-match'], etag)) return reply.code(304).send();
    let entry = cache.get(key);
    cache.delete(key); // re-inserted below: the Map's order is least recently used first
    if (!entry || entry.version !== version) entry = { version, body: Buffer.from(renderFeed(file as FeedFile, view, deps.rpz)) };
    cache.set(key, entry);
    // Rendered bodies can be large: keep those of the most recently read feeds only.
    while (cache.size > maxRenderedFeeds) cache.delete(cache.keys().next().value!);
    return reply.header('content-type', 'text/plain; charset=utf-8').send(entry.body);
  };

  app.get<{ Params: { tenantId: string; file: string } }>('/feeds/:tenantId/:file', { config: { auth: 'none' } }, async (request, reply) => {
    if (request.params.file === 'changes') {
      const credential = await verifyFeedCredential(request, request.params.tenantId);
      request.logContext = { tenant: request.params.tenantId, app: `feed:${credential.name}` };
      const provider = feedsProvider(deps.providers, request.params.tenantId, undefined);
      const q = parseChangeQuery(request.query);
      deps.metrics.changeStreamClients.inc();
      try {
        const batch = await deps.changes.read(request.params.tenantId, provider, q.since, q.wait, abortOnClose(request)).catch((e: unknown) => {
          throw isBulwarkError(e) ? e : errors.serviceUnavailable('The change stream is temporarily unavailable; retry shortly.', 5);
        });
        return reply.send(changeBatchToJson(batch));
      } finally {
        deps.metrics.changeStreamClients.dec();
      }
    }
    return serve(request, reply, request.params.tenantId, undefined, request.params.file);
  });
  app.get<{ Params: { tenantId: string; provider: string; file: string } }>('/feeds/:tenantId/:provider/:file', { config: { auth: 'none' } }, (request, reply) =>
    serve(request, reply, request.params.tenantId, request.params.provider, request.params.file),
  );
}

/** Rendered feed files kept in memory (7 files per tenant and feeds provider). */
const maxRenderedFeeds = 7 * 1000;

/** How long a credential verified while the database was reachable stays usable while it is not. */
const credentialGraceMs = 15 * 60_000;
const maxRememberedCredentials = 10_000;

type FeedCredential = Awaited<ReturnType<CredentialService['verify']>>;

/**
 * Verifies feed credentials, remembering the recent successes (by token hash) so a database outage
 * does not lock out the readers the stale-not-empty feed is for: while the store cannot be reached,
 * a token verified for the same tenant within {@link credentialGraceMs} is accepted; any other token
 * gets 503 (it cannot be checked), never a 500. A definite answer from the store (invalid, revoked,
 * another tenant) is always final and forgets the token.
 */
function feedCredentialVerifier(credentials: CredentialService): (request: FastifyRequest, tenantId: string) => Promise<FeedCredential> {
  const recent = new Map<string, { record: FeedCredential; at: number }>();
  return async (request, tenantId) => {
    const token = presentedCredential(request);
    const key = createHash('sha256').update(`${tenantId}\n${token}`).digest('base64url');
    try {
      const record = await credentials.verify(token, 'feed', tenantId);
      recent.delete(key);
      recent.set(key, { record, at: Date.now() });
      if (recent.size > maxRememberedCredentials) recent.delete(recent.keys().next().value!);
      return record;
    } catch (e) {
      if (isBulwarkError(e)) {
        recent.delete(key);
        throw e;
      }
      const known = recent.get(key);
      if (known && Date.now() - known.at <= credentialGraceMs) return known.record;
      throw errors.serviceUnavailable('Feed credentials cannot be checked right now; retry shortly.', 5);
    }
  };
}

/**
 * `If-None-Match` uses the weak comparison (RFC 9110 §13.1.2): `W/"x"` matches `"x"` — proxies that
 * compress a response mark its ETag weak — and `*` matches any current representation.
 */
function noneMatch(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const opaque = etag.replace(/^W\//, '');
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag.replace(/^W\//, '') === opaque;
  });
}

function feedsProvider(providers: ProviderRegistry, tenantId: string, name: string | undefined): string {
  const candidates = providers.forTenant(tenantId).filter((p) => p.type === 'feeds' && p.enabled);
  const p = name === undefined ? (candidates.find((c) => c.name.toLowerCase() === 'feeds') ?? candidates[0]) : candidates.find((c) => c.name.toLowerCase() === name.toLowerCase());
  if (!p) throw errors.notFound(`No feeds provider${name ? ` named '${name.slice(0, 64)}'` : ''} is enabled for this tenant.`);
  return p.name;
}

export function abortOnClose(request: FastifyRequest): AbortSignal {
  const controller = new AbortController();
  request.raw.once('close', () => controller.abort());
  return controller.signal;
}
