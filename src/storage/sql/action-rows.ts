import type { Selectable, Insertable } from 'kysely';
import type { IndicatorType } from '../../domain/indicators/indicator.js';
import type { OperationStatus } from '../../domain/operation-status.js';
import type { SecurityAction, SecurityActionState } from '../../domain/security-action.js';
import type { ActionsTable } from './schema.js';

export type ActionRow = Selectable<ActionsTable>;

/** Columns read for an action; the engine bookkeeping columns stay inside storage. */
export const actionSelection = [
  'seq', 'tenant_id', 'id', 'name', 'status', 'action_reason', 'app_id', 'user_name', 'client_context',
  'provider', 'vendor', 'sub_provider', 'provider_version', 'indicator_type', 'indicator', 'parameters',
  'states', 'error_info', 'extra', 'created_at', 'last_action_at', 'completed_at', 'cancelled_at', 'expires_at',
] as const;

export type ActionSelection = Pick<ActionRow, (typeof actionSelection)[number]>;

export function rowToAction(row: ActionSelection): SecurityAction {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    name: row.name,
    actionReason: row.action_reason,
    appId: row.app_id,
    user: row.user_name,
    clientContext: row.client_context,
    status: row.status as OperationStatus,
    parameters: JSON.parse(row.parameters) as SecurityAction['parameters'],
    indicator: { type: row.indicator_type as IndicatorType, value: row.indicator },
    vendorInformation: {
      provider: row.provider,
      providerVersion: row.provider_version,
      subProvider: row.sub_provider,
      vendor: row.vendor,
    },
    errorInfo: row.error_info ? (JSON.parse(row.error_info) as SecurityAction['errorInfo']) : null,
    createdAt: Number(row.created_at),
    lastActionAt: Number(row.last_action_at),
    completedAt: row.completed_at === null ? null : Number(row.completed_at),
    cancelledAt: row.cancelled_at === null ? null : Number(row.cancelled_at),
    expiresAt: row.expires_at === null ? null : Number(row.expires_at),
    states: JSON.parse(row.states) as SecurityActionState[],
    extra: row.extra ? (JSON.parse(row.extra) as Record<string, unknown>) : {},
  };
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
    states: JSON.stringify(a.states),
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

export function stateJson(state: SecurityActionState): string {
  return JSON.stringify(state);
}
