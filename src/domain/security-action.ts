import type { OperationStatus } from './operation-status.js';
import type { Indicator } from './indicators/indicator.js';

/** `microsoft.graph.keyValuePair`. */
export interface KeyValuePair {
  name: string;
  value: string | null;
}

/** `microsoft.graph.resultInfo`; codes are integers on the wire (Kiota drops non-numbers). */
export interface ResultInfo {
  code: number;
  subcode: number;
  message: string;
}

/** `microsoft.graph.securityVendorInformation`. */
export interface VendorInformation {
  provider: string | null;
  providerVersion: string | null;
  subProvider: string | null;
  vendor: string | null;
}

/**
 * One entry of the action's history (`microsoft.graph.securityActionState`). `reason` is a Bulwark
 * extension saying why the state was recorded (e.g. "agent fw-1 applied", "cancelled", "expired");
 * see docs/decisions/0003-state-history.md.
 */
export interface SecurityActionState {
  appId: string | null;
  status: OperationStatus;
  /** epoch milliseconds */
  updatedAt: number;
  user: string | null;
  reason: string | null;
}

/** A stored action. Times are epoch milliseconds; the wire layer renders them as ISO 8601 UTC. */
export interface SecurityAction {
  tenantId: string;
  id: string;
  name: string;
  actionReason: string | null;
  appId: string | null;
  user: string | null;
  clientContext: string | null;
  status: OperationStatus;
  parameters: KeyValuePair[];
  indicator: Indicator;
  vendorInformation: VendorInformation;
  errorInfo: ResultInfo | null;
  createdAt: number;
  lastActionAt: number;
  completedAt: number | null;
  cancelledAt: number | null;
  expiresAt: number | null;
  states: SecurityActionState[];
  /** Open-type properties the client sent that the schema does not define (bounded in size). */
  extra: Record<string, unknown>;
  /**
   * The JSON text these fields were read from, when the action came from storage and has not been
   * changed since: a serializer may splice it instead of re-serialising (states are stored in their
   * wire shape). Absent on actions built in memory.
   */
  stored?: StoredJson;
}

export interface StoredJson {
  parameters: string;
  /** JSON array of `{appId, status, updatedDateTime, user, reason}` */
  states: string;
  errorInfo: string | null;
  extra: string | null;
}

/** Who is calling: always derived from a verified token, never from the request body. */
export interface Principal {
  tenantId: string;
  appId: string;
  user: string | null;
  roles: ReadonlySet<string>;
  /** a delegated (user) token: Graph's securityActions accept application permissions only */
  delegated?: boolean;
}

export const roles = {
  read: 'SecurityActions.Read.All',
  readWrite: 'SecurityActions.ReadWrite.All',
} as const;
