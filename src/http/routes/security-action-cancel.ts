import type { FastifyInstance } from 'fastify';
import { errors } from '../../domain/errors.js';
import type { GraphRouteDeps } from './graph-routes.js';

/**
 * `POST …/{id}/cancelSecurityAction` → 200 with an empty body and no Content-Type: the Graph JS
 * client parses a body by its Content-Type and would fail on an empty JSON body (reference §6.2).
 * Accepts no body or `{}`.
 */
export function registerCancelSecurityAction(app: FastifyInstance, deps: GraphRouteDeps): void {
  app.post<{ Params: { id: string } }>('/security/securityActions/:id/cancelSecurityAction', { config: { auth: 'graph' } }, async (request, reply) => {
    const body = request.body;
    if (body !== undefined && !(body !== null && typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0)) {
      throw errors.badRequest('cancelSecurityAction takes no request body (or an empty JSON object).');
    }
    await deps.actions.cancel(request.principal!, request.params.id);
    reply.removeHeader('content-type');
    return reply.code(200).send();
  });
}
