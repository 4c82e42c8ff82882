import type { ProviderDescriptor } from '../provider.js';

export interface AgentProviderSettings {
  provider: string;
  vendor: string;
  enabled: boolean;
  region: string | null;
  tenants?: readonly string[] | undefined;
  endpoint?: string | undefined;
}

/**
 * Enforcement agents (`bulwark agent nftables`) pull the change stream and confirm what they
 * applied. An action is `Completed` only once every agent registered for the provider has
 * confirmed it: enforcement confirmed, not assumed. The nftables agent blocks addresses, so only
 * `BlockIp` is routed here.
 */
export function createAgentProvider(s: AgentProviderSettings, baseUrl: () => string): ProviderDescriptor {
  return {
    name: s.provider,
    type: 'agent',
    vendor: s.vendor,
    enabled: s.enabled,
    region: s.region,
    get endpoint() {
      return s.endpoint ?? `${baseUrl()}/agents/{tenantId}/${encodeURIComponent(s.provider)}/changes`;
    },
    supportedActions: new Set(['BlockIp']),
    tenants: s.tenants ? new Set(s.tenants) : undefined,
    completion: 'confirmed',
  };
}
