import type { Selectable, Insertable } from 'kysely';
import type { IndicatorType } from '../../domain/indicators/indicator.js';
import { isoUtc } from '../../domain/iso-time.js';
import type { OperationStatus } from '../../domain/operation-status.js';
import type { SecurityAction, SecurityActionState, StoredJson } from '../../domain/security-action.js';
import type { ActionsTable } from './schema.js';

export type ActionRow = Selectable<ActionsTable>;

/** Columns read for an action; the engine bookkeeping columns stay inside storage. */
export const actionSelection = [
  'seq', 'tenant_id', 'id', 'name', 'status', 'action_reason', 'app_id', 'user_name', 'client_context',
  'provider', 'vendor', 'sub_provider', 'provider_version', 'indicator_type', 'indicator', 'parameters',
  'states', 'error_info', 'extra', 'created_at', 'last_action_at', 'completed_at', 'cancelled_at', 'expires_at',
] as const;

export type ActionSelection = Pick<ActionRow, (typeof actionSelection)[number]>;

/**
 * States are stored in their wire shape (`{appId, status, updatedDateTime, user, reason}`), so a
 * serializer can splice the stored JSON text into a response as it is.
 */
interface StoredState {
  appId: string | null;
  status: OperationStatus;
  updatedDateTime: string;
  user: string | null;
  reason: string | null;
}

const toStored = (s: SecurityActionState): StoredState => ({ appId: s.appId, status: s.status, updatedDateTime: isoUtc(s.updatedAt), user: s.user, reason: s.reason });
const fromStored = (s: StoredState): SecurityActionState => ({ appId: s.appId, status: s.status, updatedAt: Date.parse(s.updatedDateTime), user: s.user, reason: s.reason });

/**
 * A row as a SecurityAction. The JSON columns are parsed only when read (a list response splices
 * the stored text instead, see `stored`).
 */
export function rowToAction(row: ActionSelection): SecurityAction {
  const stored: StoredJson = { parameters: row.parameters, states: row.states, errorInfo: row.error_info, extra: row.extra };
  const action = {
    tenantId: row.tenant_id,
    id: row.id,
    name: row.name,
    actionReason: row.action_reason,
    appId: row.app_id,
    user: row.user_name,
    clientContext: row.client_context,
    status: row.status as OperationStatus,
    indicator: { type: row.indicator_type as IndicatorType, value: row.indicator },
    vendorInformation: { provider: row.provider, providerVersion: row.provider_version, subProvider: row.sub_provider, vendor: row.vendor },
    createdAt: Number(row.created_at),
    lastActionAt: Number(row.last_action_at),
    completedAt: row.completed_at === null ? null : Number(row.completed_at),
    cancelledAt: row.cancelled_at === null ? null : Number(row.cancelled_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
  } as Omit<SecurityAction, 'parameters' | 'states' | 'errorInfo' | 'extra'> as SecurityAction;
  // Not enumerable: a representation detail, invisible to spreads and equality checks.
  Object.defineProperty(action, 'stored', { value: stored, enumerable: false, writable: true, configurable: true });
  lazy(action, 'parameters', () => JSON.parse(stored.parameters) as SecurityAction['parameters']);
  lazy(action, 'states', () => (JSON.parse(stored.states) as StoredState[]).map(fromStored));
  lazy(action, 'errorInfo', () => (stored.errorInfo ? (JSON.parse(stored.errorInfo) as SecurityAction['errorInfo']) : null));
  lazy(action, 'extra', () => (stored.extra ? (JSON.parse(stored.extra) as Record<string, unknown>) : {}));
  return action;
}

/** Defines `key` as parsed on first read and cached (and writable, like a plain property). */
function lazy<K extends keyof SecurityAction>(target: SecurityAction, key: K, read: () => SecurityAction[K]): void {
  Object.defineProperty(target, key, {
    configurable: true,
    enumerable: true,
    get() {
      const value = read();
      Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
      return value;
    },
    set(value: SecurityAction[K]) {
      Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
    },
  });
}

export function actionToRow(a: SecurityAction): Insertable<ActionsTable> {
  return {
    tenant_id: a.tenantId,
    id: a.id,
    name: a.name,
    status: a.status,
    action_reason: a.actionReason,
    app_id: a.appId,
    user_name: a.user,
    client_context: a.clientContext,
    provider: a.vendorInformation.provider,
    vendor: a.vendorInformation.vendor,
    sub_provider: a.vendorInformation.subProvider,
    provider_version: a.vendorInformation.providerVersion,
    indicator_type: a.indicator.type,
    indicator: a.indicator.value,
    parameters: JSON.stringify(a.parameters),
    states: JSON.stringify(a.states.map(toStored)),
    error_info: a.errorInfo ? JSON.stringify(a.errorInfo) : null,
    extra: Object.keys(a.extra).length > 0 ? JSON.stringify(a.extra) : null,
    created_at: a.createdAt,
    last_action_at: a.lastActionAt,
    completed_at: a.completedAt,
    cancelled_at: a.cancelledAt,
    expires_at: a.expiresAt,
    expired_at: null,
    applied_at: null,
    withdrawn_at: null,
  };
}

/** One state entry as stored (and as it goes on the wire). */
export function stateJson(state: SecurityActionState): string {
  return JSON.stringify(toStored(state));
}
