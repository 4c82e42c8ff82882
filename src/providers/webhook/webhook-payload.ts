import type { SecurityAction } from '../../domain/security-action.js';
import type { DeliveryEvent } from '../provider.js';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/**
 * The JSON a webhook receives. `sequence` orders events for the same indicator (a receiver that
 * sees an older sequence than the last one it applied for that indicator ignores it).
 */
export function webhookPayload(event: DeliveryEvent, action: SecurityAction, sequence: number): string {
  return JSON.stringify({
    event,
    sequence,
    tenantId: action.tenantId,
    indicator: action.indicator,
    action: {
      id: action.id,
      name: action.name,
      status: action.status,
      actionReason: action.actionReason,
      clientContext: action.clientContext,
      appId: action.appId,
      user: action.user,
      parameters: action.parameters,
      vendorInformation: action.vendorInformation,
      createdDateTime: iso(action.createdAt),
      expirationDateTime: iso(action.expiresAt),
      cancelledDateTime: iso(action.cancelledAt),
    },
  });
}
