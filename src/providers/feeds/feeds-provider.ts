import { actionNames } from '../../domain/action-catalog.js';
import type { ProviderDescriptor } from '../provider.js';

export interface FeedsProviderSettings {
  provider: string;
  vendor: string;
  enabled: boolean;
  region: string | null;
  tenants?: readonly string[] | undefined;
  endpoint?: string | undefined;
}

/**
 * The built-in pull provider: block lists in firewall and resolver formats, served at
 * `/feeds/{tenantId}/…`. An action is `Completed` once its indicator is published, i.e. once the
 * ledger change has committed and every feed request sees it.
 */
export function createFeedsProvider(s: FeedsProviderSettings, baseUrl: () => string): ProviderDescriptor {
  return {
    name: s.provider,
    type: 'feeds',
    vendor: s.vendor,
    enabled: s.enabled,
    region: s.region,
    get endpoint() {
      return s.endpoint ?? `${baseUrl()}/feeds/{tenantId}/`;
    },
    supportedActions: new Set(actionNames),
    tenants: s.tenants ? new Set(s.tenants) : undefined,
    completion: 'published',
  };
}
