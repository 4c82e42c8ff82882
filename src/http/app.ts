import type { Site } from '../config/site.js';
import { randomUUID } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { SigningKeys } from '../auth/signing-keys.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { errors, isBulwarkError } from '../domain/errors.js';
import type { ActionService } from '../services/action-service.js';
import type { IdentityService } from '../services/identity-service.js';
import { authenticateGraph } from './authenticate.js';
import { registerBodyParsers } from './body-parsers.js';
import { bodyLimitBytes, fromFastifyError, sendGraphError, writeClientError } from './graph-error.js';
import './fastify-types.js';
import { registerGraphRoutes } from './routes/graph-routes.js';
import { registerIdentityRoutes } from './routes/identity-routes.js';
import { registerOperationalRoutes, type Health } from './routes/operational-routes.js';
import { truncate } from '../domain/errors.js';
import type { SecurityService } from '../services/security-service.js';
import type { Metrics } from '../metrics/metrics.js';
import { registerAgentRoutes } from './routes/agent-routes.js';
import { registerFeedRoutes, type FeedRouteDeps } from './routes/feeds-routes.js';
import { registerSecurityRoutes } from './routes/security-routes.js';
import { registerMethodNotAllowed } from './routes/method-not-allowed.js';
import type { TurnGate } from './turn-gate.js';
import type { ResponseCache } from './response-cache.js';

export interface AppDeps {
  logger: FastifyBaseLogger;
  /** Public base URL: token issuer and absolute links. */
  site: Site;
  verifier: TokenVerifier;
  keys: SigningKeys;
  actions: ActionService;
  identity: IdentityService;
  health: Health;
  https?: { key: Buffer; cert: Buffer } | undefined;
  feeds: FeedRouteDeps;
  agents: Parameters<typeof registerAgentRoutes>[1];
  security: SecurityService;
  metrics: Metrics;
  /** list and `$count` answers served again while the tenant's actions are unchanged (response-cache.ts) */
  listCache?: ResponseCache | undefined;
  /** Bounds request work per event-loop turn (turn-gate.ts); none: every request goes on at once. */
  turnGate?: TurnGate | undefined;
}

const clientRequestIdPattern = /^[A-Za-z0-9._:{}-]{1,128}$/;

/** Builds the Fastify instance with every route and hook; never listens (house style §4). */
export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger,
    // One structured line per request is written by the onResponse hook below instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: bodyLimitBytes,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    routerOptions: { ignoreTrailingSlash: true, caseSensitive: false, maxParamLength: 2048 },
    return503OnClosing: true,
    // Errors raised before routing (undecodable URL, over-long id, oversized head) also get
    // Graph's envelope and the request-id headers, never a framework default body.
    frameworkErrors: (error, request, reply) => {
      request.clientRequestId = request.id;
      reply.header('request-id', request.id).header('client-request-id', request.id);
      return sendGraphError(request, reply, fromFastifyError(error as { code?: string; statusCode?: number; message?: string }));
    },
    clientErrorHandler: (error, socket) => writeClientError(error, socket),
    ...(deps.https ? { https: deps.https } : {}),
  }) as unknown as FastifyInstance;

  registerBodyParsers(app);

  const turnGate = deps.turnGate;
  app.addHook('onRequest', async (request, reply) => {
    if (turnGate && !request.routeOptions.config.bypassTurnGate) {
      const wait = turnGate.enter();
      if (wait) {
        deps.metrics.httpDeferred.inc();
        await wait;
      }
    }
    const given = request.headers['client-request-id'];
    request.clientRequestId = typeof given === 'string' && clientRequestIdPattern.test(given) ? given : request.id;
    reply.header('request-id', request.id);
    reply.header('client-request-id', request.clientRequestId);
    if (request.routeOptions.config.auth === 'graph') await authenticateGraph(request, deps.verifier);
  });

  app.addHook('onResponse', async (request, reply) => {
    const labels = { route: request.routeOptions.url ?? '(unmatched)', method: request.method, status: String(reply.statusCode) };
    deps.metrics.httpRequests.inc(labels);
    deps.metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
    request.log.info(
      {
        requestId: request.id,
        tenant: request.logContext?.tenant,
        app: request.logContext?.app,
        method: request.method,
        route: request.routeOptions.url ?? '(unmatched)',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      },
      'request',
    );
  });

  app.setErrorHandler((error, request, reply) => {
    if (isBulwarkError(error)) return sendGraphError(request, reply, error);
    const e = error as { code?: string; statusCode?: number; message?: string };
    const mapped = e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? errors.unsupportedMediaType(request.headers['content-type']) : fromFastifyError(e);
    if (mapped.kind === 'internal') request.log.error({ requestId: request.id, err: error }, 'unhandled error');
    return sendGraphError(request, reply, mapped);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = truncate(request.url.split('?')[0] ?? '', 200);
    return sendGraphError(request, reply, errors.notFound(`Resource not found for the segment '${path}'.`));
  });

  registerOperationalRoutes(app, deps.health, deps.metrics);
  registerIdentityRoutes(app, { identity: deps.identity, keys: deps.keys, site: deps.site });
  for (const prefix of ['/beta', '/v1.0']) {
    app.register(
      async (scoped) => {
        registerGraphRoutes(scoped, { actions: deps.actions, site: deps.site, listCache: deps.listCache });
        registerSecurityRoutes(scoped, { security: deps.security, site: deps.site });
        registerMethodNotAllowed(scoped, '/security', ['GET']);
      },
      { prefix },
    );
  }
  registerFeedRoutes(app, deps.feeds);
  registerAgentRoutes(app, deps.agents);
  return app;
}
