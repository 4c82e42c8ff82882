import type { SecurityAction } from '../../domain/security-action.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * A securityAction as Graph JSON. Enum values are PascalCase, times ISO 8601 UTC, `errorInfo`
 * codes integers. `cancelledDateTime` and `expirationDateTime` are Bulwark extensions (the type is
 * open), as is `reason` on each state (docs/decisions/0003-state-history.md).
 */
export function securityActionToJson(a: SecurityAction): Record<string, unknown> {
  return {
    id: a.id,
    name: a.name,
    status: a.status,
    actionReason: a.actionReason,
    appId: a.appId,
    azureTenantId: a.tenantId,
    clientContext: a.clientContext,
    user: a.user,
    createdDateTime: iso(a.createdAt),
    lastActionDateTime: iso(a.lastActionAt),
    completedDateTime: iso(a.completedAt),
    errorInfo: a.errorInfo,
    parameters: a.parameters,
    vendorInformation: a.vendorInformation,
    states: a.states.map((s) => ({ appId: s.appId, status: s.status, updatedDateTime: iso(s.updatedAt), user: s.user, reason: s.reason })),
    expirationDateTime: iso(a.expiresAt),
    cancelledDateTime: iso(a.cancelledAt),
    ...a.extra,
  };
}

/** `$select`: the named properties, plus `id` (Graph always returns the key). */
export function selectProperties(json: Record<string, unknown>, select: readonly string[] | undefined): Record<string, unknown> {
  if (!select) return json;
  const out: Record<string, unknown> = { id: json['id'] };
  for (const p of select) out[p] = json[p] ?? null;
  return out;
}
