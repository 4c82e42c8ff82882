import type { FastifyInstance } from 'fastify';
import { parseQueryOptions } from '../../odata/query-options.js';
import { collectionContext, nextLink } from '../wire/links.js';
import { securityActionJsonText, securityActionToJson, selectProperties } from '../wire/security-action-json.js';
import { joinedJsonBody } from '../wire/json-body.js';
import { decodeSkipToken, encodeSkipToken, queryFingerprint } from '../wire/skiptoken.js';
import { clientGoneSignal } from '../client-gone.js';
import { sendCachedAnswer } from '../response-cache.js';
import type { GraphRouteDeps } from './graph-routes.js';

export const defaultPageSize = 100;

/**
 * `GET /security/securityActions` with OData options, keyset-paged through `@odata.nextLink`;
 * answers repeat from `listCache` while the tenant's actions are unchanged (response-cache.ts).
 */
export function registerListSecurityActions(app: FastifyInstance, deps: GraphRouteDeps): void {
  app.get('/security/securityActions', { config: { auth: 'graph' } }, async (request, reply) => {
    const principal = request.principal!;
    return sendCachedAnswer(reply, deps.listCache, deps.actions, principal, request.url, async (keptCount) => {
      const options = parseQueryOptions(request.query as Record<string, string | string[] | undefined>);
      const fingerprint = queryFingerprint(options.filter, options.orderBy);
      const after = options.skipToken !== undefined ? decodeSkipToken(options.skipToken, fingerprint, options.orderBy) : undefined;
      const top = options.top ?? defaultPageSize;
      const signal = clientGoneSignal(reply);
      const [page, count] = await Promise.all([
        deps.actions.list(principal, { filter: options.filter, orderBy: options.orderBy, top, skip: options.skip, after, signal }),
        options.count ? keptCount(options.filter, () => deps.actions.count(principal, options.filter, signal)) : Promise.resolve(undefined),
      ]);
      const head: Record<string, unknown> = { '@odata.context': collectionContext(deps.site.baseUrl, request, options.select) };
      if (count !== undefined) head['@odata.count'] = count;
      if (page.next) head['@odata.nextLink'] = nextLink(deps.site.baseUrl, request, encodeSkipToken(page.next, fingerprint));
      const select = options.select;
      // Action texts splice stored JSON instead of parsing and re-serialising it (docs/decisions/0010).
      const items = select
        ? page.items.map((a) => JSON.stringify(selectProperties(securityActionToJson(a), select)))
        : page.items.map((a) => securityActionJsonText(a));
      return { body: joinedJsonBody(`${JSON.stringify(head).slice(0, -1)},"value":[`, items, ']}'), contentType: 'application/json; charset=utf-8' };
    });
  });
}
