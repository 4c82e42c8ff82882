import type { Principal } from '../domain/security-action.js';

/** How a route authenticates its caller. */
export type RouteAuth = 'graph' | 'feed' | 'agent' | 'none';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** the caller's `client-request-id`, or our request id */
    clientRequestId: string;
    /** tenant and app for the request log line, once known */
    logContext?: { tenant?: string; app?: string };
  }
  interface FastifyContextConfig {
    auth?: RouteAuth;
    /** Answer without waiting for the turn gate (health and metrics: cheap, and must answer under load). */
    bypassTurnGate?: boolean;
  }
}
