import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../../domain/errors.js';
import type { ProviderRegistry } from '../../providers/registry.js';
import type { ChangeStreamService } from '../../services/change-stream-service.js';
import type { CredentialService } from '../../services/credential-service.js';
import type { FeedService } from '../../services/feed-service.js';
import { presentedCredential } from '../credential-auth.js';
import { etagOf, feedVersion, isFeedFile, renderFeed, type FeedFile, type RpzSettings } from '../wire/feed-formats.js';
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
  const cache = new Map<string, { version: number; body: string; etag: string }>();
  app.addHook('onResponse', async (request, reply) => {
    const url = request.routeOptions.url ?? '';
    if (!url.startsWith('/feeds/')) return;
    const file = (request.params as { file?: string }).file ?? '';
    if (file === 'changes') return;
    deps.metrics.feedRequests.inc({ file: isFeedFile(file) ? file : 'other', status: String(reply.statusCode) });
  });

  const serve = async (request: FastifyRequest, reply: FastifyReply, tenantId: string, providerName: string | undefined, file: string) => {
    const credential = await deps.credentials.verify(presentedCredential(request), 'feed', tenantId);
    request.logContext = { tenant: tenantId, app: `feed:${credential.name}` };
    const provider = feedsProvider(deps.providers, tenantId, providerName);
    if (!isFeedFile(file)) throw errors.notFound(`Unknown feed file '${file.slice(0, 40)}'; available: ip.txt, domain.txt, url.txt, sha256.txt, sha1.txt, md5.txt, rpz.zone.`);
    const view = await deps.feeds.view(tenantId, provider);
    const key = `${tenantId}\n${provider}\n${file}`;
    const version = feedVersion(file as FeedFile, view);
    let entry = cache.get(key);
    if (!entry || entry.version !== version) {
      const body = renderFeed(file as FeedFile, view, deps.rpz);
      entry = { version, body, etag: etagOf(body) };
      cache.set(key, entry);
    }
    reply.header('etag', entry.etag).header('cache-control', 'no-cache');
    if (view.stale) reply.header('warning', '110 - "Response is stale: the database is unreachable"');
    if (request.headers['if-none-match']?.split(',').some((t) => t.trim() === entry!.etag)) return reply.code(304).send();
    return reply.header('content-type', 'text/plain; charset=utf-8').send(entry.body);
  };

  app.get<{ Params: { tenantId: string; file: string } }>('/feeds/:tenantId/:file', { config: { auth: 'none' } }, async (request, reply) => {
    if (request.params.file === 'changes') {
      const credential = await deps.credentials.verify(presentedCredential(request), 'feed', request.params.tenantId);
      request.logContext = { tenant: request.params.tenantId, app: `feed:${credential.name}` };
      const provider = feedsProvider(deps.providers, request.params.tenantId, undefined);
      const q = parseChangeQuery(request.query);
      deps.metrics.changeStreamClients.inc();
      try {
        const batch = await deps.changes.read(request.params.tenantId, provider, q.since, q.wait, abortOnClose(request));
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
