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

/** A row read as an array of values in `actionSelection` order (sqlite-reader.ts) as a row object. */
export function rowFromValues(v: unknown[]): ActionSelection {
  return {
    seq: v[0], tenant_id: v[1], id: v[2], name: v[3], status: v[4], action_reason: v[5], app_id: v[6], user_name: v[7],
    client_context: v[8], provider: v[9], vendor: v[10], sub_provider: v[11], provider_version: v[12], indicator_type: v[13],
    indicator: v[14], parameters: v[15], states: v[16], error_info: v[17], extra: v[18], created_at: v[19],
    last_action_at: v[20], completed_at: v[21], cancelled_at: v[22], expires_at: v[23],
  } as ActionSelection;
}

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
 * A row as a SecurityAction. The JSON columns are parsed only when read: a list response splices
 * the stored text instead (`stored`), and a list page builds a hundred of these, so this is a class
 * with prototype accessors rather than per-object `defineProperty` calls (which cost ~2.8 µs per row,
 * more than the rest of a row's handling; decision 0010 row 14).
 *
 * The parsed fields are accessors, not own properties: copy an action with `actionFields()`, not a
 * spread. Setting one of them drops `stored`, so a serializer never splices stale text.
 */
export function rowToAction(row: ActionSelection): SecurityAction {
  return new StoredAction(row);
}

/** The plain fields are declared by SecurityAction (declaration merging) and set in the constructor. */
interface StoredAction extends Omit<SecurityAction, 'parameters' | 'states' | 'errorInfo' | 'extra' | 'stored'> {}

class StoredAction implements SecurityAction {
  #stored: StoredJson | undefined;
  #parameters: SecurityAction['parameters'] | undefined;
  #states: SecurityActionState[] | undefined;
  #errorInfo: SecurityAction['errorInfo'] | undefined;
  #extra: SecurityAction['extra'] | undefined;

  constructor(row: ActionSelection) {
    this.tenantId = row.tenant_id;
    this.id = row.id;
    this.name = row.name;
    this.actionReason = row.action_reason;
    this.appId = row.app_id;
    this.user = row.user_name;
    this.clientContext = row.client_context;
    this.status = row.status as OperationStatus;
    this.indicator = { type: row.indicator_type as IndicatorType, value: row.indicator };
    this.vendorInformation = { provider: row.provider, providerVersion: row.provider_version, subProvider: row.sub_provider, vendor: row.vendor };
    this.createdAt = Number(row.created_at);
    this.lastActionAt = Number(row.last_action_at);
    this.completedAt = row.completed_at === null ? null : Number(row.completed_at);
    this.cancelledAt = row.cancelled_at === null ? null : Number(row.cancelled_at);
    this.expiresAt = row.expires_at === null ? null : Number(row.expires_at);
    this.#stored = { parameters: row.parameters, states: row.states, errorInfo: row.error_info, extra: row.extra };
  }

  get stored(): StoredJson | undefined {
    return this.#stored;
  }

  get parameters(): SecurityAction['parameters'] {
    return (this.#parameters ??= JSON.parse(this.#stored!.parameters) as SecurityAction['parameters']);
  }
  set parameters(value) {
    this.#detach();
    this.#parameters = value;
  }

  get states(): SecurityActionState[] {
    return (this.#states ??= (JSON.parse(this.#stored!.states) as StoredState[]).map(fromStored));
  }
  set states(value) {
    this.#detach();
    this.#states = value;
  }

  get errorInfo(): SecurityAction['errorInfo'] {
    if (this.#errorInfo === undefined) {
      const text = this.#stored!.errorInfo;
      this.#errorInfo = text ? (JSON.parse(text) as SecurityAction['errorInfo']) : null;
    }
    return this.#errorInfo;
  }
  set errorInfo(value) {
    this.#detach();
    this.#errorInfo = value;
  }

  get extra(): SecurityAction['extra'] {
    if (this.#extra === undefined) {
      const text = this.#stored!.extra;
      this.#extra = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    }
    return this.#extra;
  }
  set extra(value) {
    this.#detach();
    this.#extra = value;
  }

  /** Before a field changes: parses whatever is still only text, and drops the now stale text. */
  #detach(): void {
    if (!this.#stored) return;
    this.#parameters = this.parameters;
    this.#states = this.states;
    this.#errorInfo = this.errorInfo;
    this.#extra = this.extra;
    this.#stored = undefined;
  }

  /** For `JSON.stringify` and logs: every field, as a plain object. */
  toJSON(): SecurityAction {
    return actionFields(this);
  }
}

/** Every field of an action as a plain object (own properties; no stored JSON text). */
export function actionFields(a: SecurityAction): SecurityAction {
  return {
    tenantId: a.tenantId, id: a.id, name: a.name, actionReason: a.actionReason, appId: a.appId, user: a.user,
    clientContext: a.clientContext, status: a.status, parameters: a.parameters, indicator: a.indicator,
    vendorInformation: a.vendorInformation, errorInfo: a.errorInfo, createdAt: a.createdAt, lastActionAt: a.lastActionAt,
    completedAt: a.completedAt, cancelledAt: a.cancelledAt, expiresAt: a.expiresAt, states: a.states, extra: a.extra,
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
