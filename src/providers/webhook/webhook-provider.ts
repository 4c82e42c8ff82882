import { createHmac, randomUUID } from 'node:crypto';
import type { DeliveryEvent, DeliveryOutcome, PushProvider } from '../provider.js';
import type { SecurityAction } from '../../domain/security-action.js';
import { actionNames } from '../../domain/action-catalog.js';
import { webhookPayload } from './webhook-payload.js';

export interface WebhookProviderSettings {
  provider: string;
  vendor: string;
  enabled: boolean;
  region: string | null;
  tenants?: readonly string[] | undefined;
  endpoint: string;
  secret: string;
  timeoutMs: number;
  actions?: readonly string[] | undefined;
}

export const signatureHeader = 'x-bulwark-signature';
export const timestampHeader = 'x-bulwark-timestamp';

/** `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`; verify with a constant-time compare. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Push provider: POSTs `{event, action}` to the endpoint, signed, with an idempotency key that is
 * stable across retries (`<actionId>:<event>`). 2xx → delivered; 408, 429, 5xx, timeouts and
 * network errors → retried by the engine with backoff; any other status fails the action with
 * `errorInfo.code` = that status.
 */
export function createWebhookProvider(s: WebhookProviderSettings, fetchImpl: typeof fetch = fetch): PushProvider {
  return {
    name: s.provider,
    type: 'webhook',
    vendor: s.vendor,
    enabled: s.enabled,
    region: s.region,
    endpoint: s.endpoint,
    supportedActions: new Set(s.actions ?? actionNames),
    tenants: s.tenants ? new Set(s.tenants) : undefined,
    completion: 'delivered',
    async deliver(event: DeliveryEvent, action: SecurityAction, context): Promise<DeliveryOutcome> {
      const body = webhookPayload(event, action, context.sequence);
      const timestamp = String(Math.floor(Date.now() / 1000));
      let res: Response;
      try {
        res = await fetchImpl(s.endpoint, {
          method: 'POST',
          redirect: 'manual',
          signal: AbortSignal.timeout(s.timeoutMs),
          headers: {
            'content-type': 'application/json',
            'user-agent': 'Bulwark-Webhook/1',
            'idempotency-key': `${action.id}:${event}`,
            'x-bulwark-event': event,
            'x-bulwark-delivery': randomUUID(),
            'x-bulwark-attempt': String(context.attempt),
            [timestampHeader]: timestamp,
            [signatureHeader]: signWebhook(s.secret, timestamp, body),
          },
          body,
        });
        await res.arrayBuffer().catch(() => undefined);
      } catch (e) {
        const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
        return { kind: 'retry', message: timedOut ? `webhook timed out after ${s.timeoutMs} ms` : `webhook unreachable: ${errorText(e)}` };
      }
      if (res.status >= 200 && res.status < 300) return { kind: 'ok', detail: `webhook answered ${res.status}` };
      if (res.status === 408 || res.status === 429 || res.status >= 500) return { kind: 'retry', message: `webhook answered ${res.status}` };
      return { kind: 'fail', error: { code: res.status, subcode: 0, message: `webhook ${s.provider} rejected the ${event} with HTTP ${res.status}` } };
    },
  };
}

function errorText(e: unknown): string {
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : undefined;
  return (cause ?? (e instanceof Error ? e.message : String(e))).slice(0, 200);
}
