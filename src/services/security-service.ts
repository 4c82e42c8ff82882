import type { Principal } from '../domain/security-action.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { CredentialStore, LedgerStore, ProviderWorkStats } from '../storage/ports.js';
import { requireRole } from './action-service.js';

/** `securityProviderStatus` plus Bulwark's health fields (docs/decisions/0004-providers.md). */
export interface ProviderStatus {
  enabled: boolean;
  endpoint: string | null;
  provider: string;
  region: string | null;
  vendor: string;
  type: string;
  isDefault: boolean;
  supportedActions: string[];
  health: {
    /** ok | degraded (retries pending or agents behind) | waiting (no agent registered) */
    state: 'ok' | 'degraded' | 'waiting';
    activeIndicators: number;
    streamCursor: number;
    pendingJobs: number;
    retryingJobs: number;
    lastError: string | null;
    waitingForAgents: number;
    agents?: { id: string; name: string; confirmedCursor: number; lag: number; lastSeenDateTime: string | null }[];
  };
}

/** The `security` entity of one tenant: which providers enforce its actions, and how they are doing. */
export class SecurityService {
  constructor(
    private readonly deps: { providers: ProviderRegistry; ledger: LedgerStore; credentials: CredentialStore; work: ProviderWorkStats; defaultProvider: string },
  ) {}

  async providerStatus(principal: Principal): Promise<ProviderStatus[]> {
    requireRole(principal, 'read');
    const tenantId = principal.tenantId;
    const agentCredentials = (await this.deps.credentials.list(tenantId, 'agent')).filter((c) => c.revokedAt === null);
    return Promise.all(
      this.deps.providers.forTenant(tenantId).map(async (p) => {
        const [stats, work] = await Promise.all([this.deps.ledger.stats(tenantId, p.name), this.deps.work.pending(tenantId, p.name)]);
        const agents =
          p.type === 'agent'
            ? agentCredentials
                .filter((c) => c.provider === p.name)
                .map((c) => ({
                  id: c.id, name: c.name, confirmedCursor: c.confirmedSeq ?? 0, lag: Math.max(0, stats.cursor - (c.confirmedSeq ?? 0)),
                  lastSeenDateTime: c.lastSeenAt === null ? null : new Date(c.lastSeenAt).toISOString(),
                }))
            : undefined;
        const state: ProviderStatus['health']['state'] =
          agents && agents.length === 0 ? 'waiting' : work.retrying > 0 || (agents?.some((a) => a.lag > 0) ?? false) ? 'degraded' : 'ok';
        return {
          enabled: p.enabled,
          endpoint: p.endpoint?.replace('{tenantId}', encodeURIComponent(tenantId)) ?? null,
          provider: p.name,
          region: p.region,
          vendor: p.vendor,
          type: p.type,
          isDefault: p.name.toLowerCase() === this.deps.defaultProvider.toLowerCase(),
          supportedActions: [...p.supportedActions],
          health: {
            state, activeIndicators: stats.entries, streamCursor: stats.cursor, pendingJobs: work.jobs, retryingJobs: work.retrying,
            lastError: work.lastError, waitingForAgents: work.waitingForAgents, ...(agents ? { agents } : {}),
          },
        };
      }),
    );
  }
}
