import type { FastifyInstance } from 'fastify';
import { errors } from '../../domain/errors.js';
import { parseCreateBody } from '../wire/create-input.js';
import { entityContext, locationOf } from '../wire/links.js';
import { securityActionJsonText } from '../wire/security-action-json.js';
import type { GraphRouteDeps } from './graph-routes.js';

/** `POST /security/securityActions` → 201 with the full entity and `Location`. */
export function registerCreateSecurityAction(app: FastifyInstance, deps: GraphRouteDeps): void {
  app.post('/security/securityActions', { config: { auth: 'graph' } }, async (request, reply) => {
    if (request.body !== undefined && !isJson(request.headers['content-type'])) throw errors.unsupportedMediaType(request.headers['content-type']);
    const input = parseCreateBody(request.body);
    const action = await deps.actions.create(request.principal!, input);
    return reply
      .code(201)
      .header('location', locationOf(deps.site.baseUrl, request, action.id))
      .header('content-type', 'application/json; charset=utf-8')
      .send(securityActionJsonText(action, `"@odata.context":${JSON.stringify(entityContext(deps.site.baseUrl, request))},`));
  });
}

function isJson(contentType: string | undefined): boolean {
  return !!contentType && /^application\/([a-z.+-]*\+)?json\s*(;|$)/i.test(contentType);
}
