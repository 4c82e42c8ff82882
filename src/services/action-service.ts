import { randomUUID } from 'node:crypto';
import { validateAction } from '../domain/action-catalog.js';
import { errors } from '../domain/errors.js';
import type { Guardrails } from '../domain/guardrails.js';
import { roles, type Principal, type SecurityAction, type SecurityActionState } from '../domain/security-action.js';
import type { FilterNode } from '../odata/ast.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { ActionStore, ListPage, ListQuery } from '../storage/ports.js';

/** What a client may set when creating an action; everything else is server-set. */
export interface CreateActionInput {
  name: unknown;
  parameters: unknown;
  actionReason: string | null;
  clientContext: string | null;
  vendorInformation: { provider: string | null; subProvider: string | null; providerVersion: string | null };
  extra: Record<string, unknown>;
}

export interface ActionServiceDeps {
  store: ActionStore;
  providers: ProviderRegistry;
  guardrails: Guardrails;
  now?: () => number;
}

const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The securityAction use cases. Every method takes the caller's principal; the tenant comes from it. */
export class ActionService {
  private readonly now: () => number;

  constructor(private readonly deps: ActionServiceDeps) {
    this.now = deps.now ?? Date.now;
  }

  async create(principal: Principal, input: CreateActionInput): Promise<SecurityAction> {
    requireRole(principal, 'write');
    const at = this.now();
    const validated = validateAction({ name: input.name, parameters: input.parameters }, at);
    this.deps.guardrails.check(validated.name, validated.indicator);
    const provider = this.deps.providers.route(principal.tenantId, input.vendorInformation.provider, validated.name);
    const created: SecurityActionState = { appId: principal.appId, status: 'NotStarted', updatedAt: at, user: principal.user, reason: 'created' };
    const action: SecurityAction = {
      tenantId: principal.tenantId,
      id: randomUUID(),
      name: validated.name,
      actionReason: input.actionReason,
      appId: principal.appId,
      user: principal.user,
      clientContext: input.clientContext,
      status: 'NotStarted',
      parameters: validated.parameters,
      indicator: validated.indicator,
      vendorInformation: {
        provider: provider.name,
        vendor: provider.vendor,
        subProvider: input.vendorInformation.subProvider,
        providerVersion: input.vendorInformation.providerVersion,
      },
      errorInfo: null,
      createdAt: at,
      lastActionAt: at,
      completedAt: null,
      cancelledAt: null,
      expiresAt: validated.expiresAt,
      states: [created],
      extra: input.extra,
    };
    await this.deps.store.create(action, { provider: provider.name });
    return action;
  }

  async get(principal: Principal, id: string): Promise<SecurityAction> {
    requireRole(principal, 'read');
    const action = guidPattern.test(id) ? await this.deps.store.get(principal.tenantId, id.toLowerCase()) : undefined;
    if (!action) throw errors.actionNotFound(id);
    return action;
  }

  async list(principal: Principal, query: ListQuery): Promise<ListPage> {
    requireRole(principal, 'read');
    return this.deps.store.list(principal.tenantId, query);
  }

  async count(principal: Principal, filter?: FilterNode, signal?: AbortSignal): Promise<number> {
    requireRole(principal, 'read');
    return this.deps.store.count(principal.tenantId, filter, signal);
  }

  /** See `ActionStore.dataVersion`: lets a caller reuse list and count answers while it holds. */
  async dataVersion(principal: Principal): Promise<number | undefined> {
    requireRole(principal, 'read');
    return this.deps.store.dataVersion(principal.tenantId);
  }

  /** Cancels and withdraws; cancelling again is a no-op. */
  async cancel(principal: Principal, id: string): Promise<void> {
    requireRole(principal, 'write');
    if (!guidPattern.test(id)) throw errors.actionNotFound(id);
    const state: SecurityActionState = { appId: principal.appId, status: 'Running', updatedAt: this.now(), user: principal.user, reason: null };
    const outcome = await this.deps.store.cancel(principal.tenantId, id.toLowerCase(), state);
    if (outcome === 'notFound') throw errors.actionNotFound(id);
  }
}

/** Graph's permissions: reads accept Read.All or ReadWrite.All; writes need ReadWrite.All. */
export function requireRole(principal: Principal, access: 'read' | 'write'): void {
  const ok = access === 'read' ? principal.roles.has(roles.read) || principal.roles.has(roles.readWrite) : principal.roles.has(roles.readWrite);
  if (ok) return;
  if (principal.delegated) {
    throw errors.forbidden('Delegated (user) tokens are not supported for securityActions; use an application token with an app role.');
  }
  const needed = access === 'read' ? `${roles.read} or ${roles.readWrite}` : roles.readWrite;
  throw errors.forbidden(`The application lacks the role required for this operation: ${needed}.`);
}
