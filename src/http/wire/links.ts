import type { FastifyRequest } from 'fastify';

/** `/beta` or `/v1.0`, as the client called it. */
export function versionOf(request: FastifyRequest): string {
  return /^\/v1\.0(\/|$)/i.test(request.url) ? 'v1.0' : 'beta';
}

export function entityContext(publicUrl: string, request: FastifyRequest): string {
  return `${publicUrl}/${versionOf(request)}/$metadata#security/securityActions/$entity`;
}

export function collectionContext(publicUrl: string, request: FastifyRequest, select?: readonly string[]): string {
  return `${publicUrl}/${versionOf(request)}/$metadata#security/securityActions${select ? `(${select.join(',')})` : ''}`;
}

/**
 * The absolute next-page link: the request's own path and every original query option (as sent),
 * with `$skiptoken` replaced. `$skip` stays as sent; it is ignored once a skiptoken is present.
 */
export function nextLink(publicUrl: string, request: FastifyRequest, skipToken: string): string {
  const [path, query = ''] = request.url.split('?', 2) as [string, string?];
  const kept = query
    .split('&')
    .filter((pair) => pair !== '' && !/^(%24|\$)?skiptoken=/i.test(pair) && !/^(%24|\$)?skiptoken$/i.test(pair));
  kept.push(`$skiptoken=${skipToken}`);
  return `${publicUrl}${path}?${kept.join('&')}`;
}

export function locationOf(publicUrl: string, request: FastifyRequest, id: string): string {
  return `${publicUrl}/${versionOf(request)}/security/securityActions/${id}`;
}
