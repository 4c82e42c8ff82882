import { isoUtc } from '../../domain/iso-time.js';
import type { SecurityAction } from '../../domain/security-action.js';

const iso = (ms: number | null): string | null => (ms === null ? null : isoUtc(ms));

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

const str = (v: string | null) => (v === null ? 'null' : JSON.stringify(v));
const time = (ms: number | null) => (ms === null ? 'null' : `"${isoUtc(ms)}"`);

/**
 * The same JSON as `JSON.stringify(securityActionToJson(a))`, built as text: an action read from
 * storage carries its parameters, states, errorInfo and extra properties as stored JSON (states in
 * wire shape), which is spliced in instead of being parsed and re-serialised. `prefix` is written
 * first inside the object (e.g. the `@odata.context` member).
 */
export function securityActionJsonText(a: SecurityAction, prefix = ''): string {
  const stored = a.stored;
  const extra = stored ? (stored.extra && stored.extra !== '{}' ? `,${stored.extra.slice(1, -1)}` : '') : extraText(a.extra);
  const v = a.vendorInformation;
  return (
    `{${prefix}"id":${str(a.id)},"name":${str(a.name)},"status":"${a.status}","actionReason":${str(a.actionReason)},"appId":${str(a.appId)},` +
    `"azureTenantId":${str(a.tenantId)},"clientContext":${str(a.clientContext)},"user":${str(a.user)},` +
    `"createdDateTime":${time(a.createdAt)},"lastActionDateTime":${time(a.lastActionAt)},"completedDateTime":${time(a.completedAt)},` +
    `"errorInfo":${stored ? (stored.errorInfo ?? 'null') : JSON.stringify(a.errorInfo)},` +
    `"parameters":${stored ? stored.parameters : JSON.stringify(a.parameters)},` +
    `"vendorInformation":{"provider":${str(v.provider)},"providerVersion":${str(v.providerVersion)},"subProvider":${str(v.subProvider)},"vendor":${str(v.vendor)}},` +
    `"states":${stored ? stored.states : JSON.stringify(securityActionToJson(a)['states'])},` +
    `"expirationDateTime":${time(a.expiresAt)},"cancelledDateTime":${time(a.cancelledAt)}${extra}}`
  );
}

function extraText(extra: Record<string, unknown>): string {
  const text = JSON.stringify(extra);
  return text === '{}' ? '' : `,${text.slice(1, -1)}`;
}

/** `$select`: the named properties, plus `id` (Graph always returns the key). */
export function selectProperties(json: Record<string, unknown>, select: readonly string[] | undefined): Record<string, unknown> {
  if (!select) return json;
  const out: Record<string, unknown> = { id: json['id'] };
  for (const p of select) out[p] = json[p] ?? null;
  return out;
}
