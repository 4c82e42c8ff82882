import type { FastifyInstance, HTTPMethods } from 'fastify';
import { errors } from '../../domain/errors.js';

const allMethods: HTTPMethods[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** Answers 405 in Graph's envelope, with `Allow`, for every method a resource does not support. */
export function registerMethodNotAllowed(app: FastifyInstance, url: string, allowed: HTTPMethods[]): void {
  const allow = allowed.includes('GET') ? [...allowed, 'HEAD'] : allowed;
  const others = allMethods.filter((m) => !allow.includes(m));
  app.route({
    method: others,
    url,
    config: { auth: 'none' },
    handler: async (request, reply) => {
      reply.header('allow', allow.join(', '));
      throw errors.methodNotAllowed(request.method, request.url.split('?')[0] ?? '');
    },
  });
}
