import type { FastifyInstance } from 'fastify';
import { errors } from '../../domain/errors.js';
import { parseCountOptions, parseQueryOptions } from '../../odata/query-options.js';
import { entityContext } from '../wire/links.js';
import { securityActionJsonText, securityActionToJson, selectProperties } from '../wire/security-action-json.js';
import { clientGoneSignal } from '../client-gone.js';
import { sendCachedAnswer } from '../response-cache.js';
import type { GraphRouteDeps } from './graph-routes.js';

/**
 * `GET /security/securityActions/{id}` and, on the same path shape, `GET …/$count` (the `$` may
 * arrive percent-encoded, so the segment is matched after decoding).
 */
export function registerGetSecurityAction(app: FastifyInstance, deps: GraphRouteDeps): void {
  app.get<{ Params: { id: string } }>('/security/securityActions/:id', { config: { auth: 'graph' } }, async (request, reply) => {
    const query = request.query as Record<string, string | string[] | undefined>;
    if (request.params.id === '$count') {
      return sendCachedAnswer(reply, deps.listCache, deps.actions, request.principal!, request.url, async (keptCount) => {
        const { filter } = parseCountOptions(query);
        const n = await keptCount(filter, () => deps.actions.count(request.principal!, filter, clientGoneSignal(reply)));
        return { body: Buffer.from(String(n)), contentType: 'text/plain; charset=utf-8' };
      });
    }
    const options = parseQueryOptions(query);
    const unsupported = (['filter', 'orderBy', 'top', 'skip', 'skipToken'] as const).find((k) =>
      k === 'orderBy' ? options.orderBy.length > 0 : options[k] !== undefined,
    );
    if (unsupported || options.count) {
      throw errors.invalidQuery(`The query option '$${(unsupported ?? 'count').toLowerCase()}' is not supported when reading a single securityAction.`);
    }
    const action = await deps.actions.get(request.principal!, request.params.id);
    const context = entityContext(deps.site.baseUrl, request);
    if (options.select) return reply.send({ '@odata.context': context, ...selectProperties(securityActionToJson(action), options.select) });
    return reply.header('content-type', 'application/json; charset=utf-8').send(securityActionJsonText(action, `"@odata.context":${JSON.stringify(context)},`));
  });
}
