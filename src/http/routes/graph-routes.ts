import type { Site } from '../../config/site.js';
import type { FastifyInstance } from 'fastify';
import type { ActionService } from '../../services/action-service.js';
import type { ResponseCache } from '../response-cache.js';
import { registerCreateSecurityAction } from './security-actions-create.js';
import { registerListSecurityActions } from './security-actions-list.js';
import { registerGetSecurityAction } from './security-action-get.js';
import { registerCancelSecurityAction } from './security-action-cancel.js';
import { registerMethodNotAllowed } from './method-not-allowed.js';

export interface GraphRouteDeps {
  actions: ActionService;
  site: Site;
  /** list and `$count` answers served again while the tenant's data is unchanged; none: always computed */
  listCache?: ResponseCache | undefined;
}

/** The securityActions operations, registered under `/beta` and `/v1.0`. */
export function registerGraphRoutes(app: FastifyInstance, deps: GraphRouteDeps): void {
  registerCreateSecurityAction(app, deps);
  registerListSecurityActions(app, deps);
  registerGetSecurityAction(app, deps);
  registerCancelSecurityAction(app, deps);
  // The history is an audit trail: actions are never patched or deleted, only cancelled.
  registerMethodNotAllowed(app, '/security/securityActions', ['GET', 'POST']);
  registerMethodNotAllowed(app, '/security/securityActions/:id', ['GET']);
  registerMethodNotAllowed(app, '/security/securityActions/:id/cancelSecurityAction', ['POST']);
}
