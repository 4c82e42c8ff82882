import type { SecurityAction, ResultInfo } from '../domain/security-action.js';

export type ProviderType = 'feeds' | 'webhook' | 'agent';

/** A configured enforcement target as the API and the engine see it. */
export interface ProviderDescriptor {
  readonly name: string;
  readonly type: ProviderType;
  readonly vendor: string;
  readonly enabled: boolean;
  readonly region: string | null;
  /** Where the provider enforces or publishes (feed URL, webhook URL, change stream). */
  readonly endpoint: string | null;
  /** Canonical action names it can carry out. */
  readonly supportedActions: ReadonlySet<string>;
  /** Tenants it serves; undefined = all. */
  readonly tenants?: ReadonlySet<string> | undefined;
  /**
   * How an applied change becomes `Completed`: `published` once the ledger change commits (pull
   * providers), `delivered` once `deliver()` succeeds (push), `confirmed` once every registered
   * agent has confirmed the change.
   */
  readonly completion: 'published' | 'delivered' | 'confirmed';
}

export type DeliveryEvent = 'block' | 'unblock';

export type DeliveryOutcome =
  | { kind: 'ok'; detail: string }
  /** transient: retry with backoff */
  | { kind: 'retry'; message: string }
  /** permanent: the action fails with this error */
  | { kind: 'fail'; error: ResultInfo };

/** A push provider: carries one event for one action to the enforcement point. */
export interface PushProvider extends ProviderDescriptor {
  deliver(event: DeliveryEvent, action: SecurityAction, context: { sequence: number; attempt: number }): Promise<DeliveryOutcome>;
}

export function isPushProvider(p: ProviderDescriptor): p is PushProvider {
  return p.completion === 'delivered' && typeof (p as PushProvider).deliver === 'function';
}
