import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../metrics/metrics.js';

export interface Health {
  /** database reachable and migrations current */
  ready(): Promise<{ ok: boolean; checks: Record<string, string> }>;
}

/**
 * `/healthz` (the process is alive), `/readyz` (it can serve: database up, schema current) and
 * `/metrics` (Prometheus text format).
 */
export function registerOperationalRoutes(app: FastifyInstance, health: Health, metrics: Metrics): void {
  app.get('/metrics', { config: { auth: 'none', bypassTurnGate: true } }, async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.render()),
  );
  app.get('/healthz', { config: { auth: 'none', bypassTurnGate: true } }, async (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', { config: { auth: 'none', bypassTurnGate: true } }, async (_request, reply) => {
    const r = await health.ready().catch((e: Error) => ({ ok: false, checks: { database: `error: ${e.message.slice(0, 200)}` } }));
    return reply.code(r.ok ? 200 : 503).send({ status: r.ok ? 'ready' : 'not ready', checks: r.checks });
  });
}
