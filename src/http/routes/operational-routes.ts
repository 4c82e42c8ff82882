import type { FastifyInstance } from 'fastify';

export interface Health {
  /** database reachable and migrations current */
  ready(): Promise<{ ok: boolean; checks: Record<string, string> }>;
}

/** `/healthz` (the process is alive) and `/readyz` (it can serve: database up, schema current). */
export function registerOperationalRoutes(app: FastifyInstance, health: Health): void {
  app.get('/healthz', { config: { auth: 'none' } }, async (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/readyz', { config: { auth: 'none' } }, async (_request, reply) => {
    const r = await health.ready().catch((e: Error) => ({ ok: false, checks: { database: `error: ${e.message.slice(0, 200)}` } }));
    return reply.code(r.ok ? 200 : 503).send({ status: r.ok ? 'ready' : 'not ready', checks: r.checks });
  });
}
