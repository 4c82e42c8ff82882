import type { FastifyRequest } from 'fastify';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { errors } from '../domain/errors.js';
import type { Principal } from '../domain/security-action.js';

/** Extracts `Authorization: Bearer <token>`; anything else is a 401. */
export function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (!header) throw errors.unauthenticated('Access token is empty.');
  const match = /^Bearer[ ]+([A-Za-z0-9\-_.~+/]+=*)$/i.exec(header.trim());
  if (!match?.[1]) throw errors.unauthenticated('The Authorization header must be "Bearer <access token>".');
  return match[1];
}

export async function authenticateGraph(request: FastifyRequest, verifier: TokenVerifier): Promise<Principal> {
  const principal = await verifier.verify(bearerToken(request));
  request.principal = principal;
  request.logContext = { tenant: principal.tenantId, app: principal.appId };
  return principal;
}
