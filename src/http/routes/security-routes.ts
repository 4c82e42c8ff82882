import type { FastifyInstance } from 'fastify';
import type { SecurityService } from '../../services/security-service.js';
import type { Site } from '../../config/site.js';
import { versionOf } from '../wire/links.js';

/** `GET /security`: the tenant's `security` entity with `providerStatus` (and health). */
export function registerSecurityRoutes(app: FastifyInstance, deps: { security: SecurityService; site: Site }): void {
  app.get('/security', { config: { auth: 'graph' } }, async (request, reply) => {
    const providerStatus = await deps.security.providerStatus(request.principal!);
    return reply.send({
      '@odata.context': `${deps.site.baseUrl}/${versionOf(request)}/$metadata#security/$entity`,
      id: request.principal!.tenantId,
      providerStatus,
    });
  });
}
