import type { FastifyInstance } from 'fastify';
import { errors } from '../../domain/errors.js';
import type { AgentStore } from '../../storage/ports.js';
import type { ChangeStreamService } from '../../services/change-stream-service.js';
import type { CredentialService } from '../../services/credential-service.js';
import { presentedCredential } from '../credential-auth.js';
import { changeBatchToJson, parseChangeQuery } from '../wire/change-batch-json.js';
import { abortOnClose } from './feeds-routes.js';
import type { Metrics } from '../../metrics/metrics.js';

/**
 * The agent protocol: `GET /agents/{tenantId}/{provider}/changes?since=&wait=` (snapshot or net
 * changes, long-polled) and `POST /agents/{tenantId}/{provider}/confirm` `{"cursor": n}` once the
 * agent has applied everything through `n`. Agent credentials open only these two routes.
 */
export function registerAgentRoutes(app: FastifyInstance, deps: { changes: ChangeStreamService; credentials: CredentialService; agents: AgentStore; metrics: Metrics }): void {
  const authenticate = async (request: Parameters<typeof presentedCredential>[0], tenantId: string, provider: string) => {
    const c = await deps.credentials.verify(presentedCredential(request), 'agent', tenantId);
    if (c.provider?.toLowerCase() !== provider.toLowerCase()) throw errors.unauthenticated('This agent credential is for another provider.');
    request.logContext = { tenant: tenantId, app: `agent:${c.name}` };
    return { ...c, provider: c.provider };
  };

  app.get<{ Params: { tenantId: string; provider: string } }>('/agents/:tenantId/:provider/changes', { config: { auth: 'none' } }, async (request, reply) => {
    const agent = await authenticate(request, request.params.tenantId, request.params.provider);
    const q = parseChangeQuery(request.query);
    deps.metrics.changeStreamClients.inc();
    try {
      const batch = await deps.changes.read(agent.tenantId, agent.provider, q.since, q.wait, abortOnClose(request));
      return reply.send(changeBatchToJson(batch));
    } finally {
      deps.metrics.changeStreamClients.dec();
    }
  });

  app.post<{ Params: { tenantId: string; provider: string } }>('/agents/:tenantId/:provider/confirm', { config: { auth: 'none' } }, async (request, reply) => {
    const agent = await authenticate(request, request.params.tenantId, request.params.provider);
    const body = request.body as { cursor?: unknown } | undefined;
    const cursor = body?.cursor;
    if (typeof cursor !== 'number' || !Number.isSafeInteger(cursor) || cursor < 0) throw errors.badRequest("The body must be {\"cursor\": <non-negative integer>}.");
    const r = await deps.agents.confirm({ id: agent.id, name: agent.name, tenantId: agent.tenantId, provider: agent.provider }, cursor, Date.now());
    return reply.send({ confirmedCursor: r.confirmed, completedActions: r.completed });
  });
}
