import type { FastifyRequest } from 'fastify';
import { errors } from '../domain/errors.js';

/**
 * The token an enforcement point presents: `Authorization: Bearer <token>`, HTTP Basic with the
 * token as password (any user name), or a `token` query parameter — Unbound's `url:` and some
 * firewalls cannot send headers (Unbound keeps the query string but drops `user:pass@`).
 */
export function presentedCredential(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (header) {
    const bearer = /^Bearer\s+(\S+)$/i.exec(header);
    if (bearer?.[1]) return bearer[1];
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header);
    if (basic?.[1]) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i >= 0) return decoded.slice(i + 1);
    }
  }
  const q = (request.query as Record<string, unknown>)['token'];
  if (typeof q === 'string' && q.length > 0) return q;
  throw errors.unauthenticated('A credential is required: Bearer token, HTTP Basic password, or ?token=.');
}
