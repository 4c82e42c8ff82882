import { randomUUID } from 'node:crypto';
import { generateSecret, hashSecret } from '../auth/secrets.js';
import { errors } from '../domain/errors.js';
import type { AgentStore, CredentialRecord, CredentialStore } from '../storage/ports.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { tenantIdPattern } from './identity-service.js';

/**
 * Read-only credentials for enforcement points: feed readers (`bwf_…`) and agents (`bwa_…`). Only a
 * hash is stored; a feed credential opens the tenant's feeds and nothing else, an agent credential
 * opens its provider's change stream and confirmations and nothing else.
 */
export class CredentialService {
  constructor(
    private readonly store: CredentialStore,
    private readonly agents: AgentStore,
    private readonly providers: ProviderRegistry,
    private readonly now: () => number = Date.now,
  ) {}

  async createFeedCredential(tenantId: string, name: string): Promise<{ id: string; token: string }> {
    checkTenant(tenantId);
    const token = generateSecret('bwf_');
    const rec = record(tenantId, 'feed', name, null, token, this.now());
    await this.store.create(rec);
    return { id: rec.id, token };
  }

  async createAgentCredential(tenantId: string, providerName: string, name: string): Promise<{ id: string; token: string; provider: string }> {
    checkTenant(tenantId);
    const provider = this.providers.get(providerName);
    if (!provider || provider.type !== 'agent') {
      const agentProviders = this.providers.all().filter((p) => p.type === 'agent').map((p) => p.name);
      throw new Error(`'${providerName}' is not an agent provider; configured agent providers: ${agentProviders.join(', ') || '(none)'}`);
    }
    const token = generateSecret('bwa_');
    const rec = record(tenantId, 'agent', name, provider.name, token, this.now());
    await this.store.create(rec);
    return { id: rec.id, token, provider: provider.name };
  }

  async revoke(tenantId: string, id: string): Promise<boolean> {
    const list = await this.store.list(tenantId);
    const target = list.find((c) => c.id === id);
    const ok = await this.store.revoke(tenantId, id, this.now());
    // Removing an agent may be what the remaining waiting actions were waiting for.
    if (ok && target?.kind === 'agent' && target.provider) await this.agents.settle(tenantId, target.provider, this.now());
    return ok;
  }

  list(tenantId: string, kind?: 'feed' | 'agent'): Promise<CredentialRecord[]> {
    return this.store.list(tenantId, kind);
  }

  /** The credential behind a presented token, if it is valid, of the right kind and tenant. */
  async verify(token: string, kind: 'feed' | 'agent', tenantId: string): Promise<CredentialRecord> {
    const prefix = kind === 'feed' ? 'bwf_' : 'bwa_';
    const c = token.startsWith(prefix) && token.length <= 128 ? await this.store.findByHash(hashSecret(token)) : undefined;
    if (!c || c.kind !== kind || c.revokedAt !== null || c.tenantId !== tenantId) {
      throw errors.unauthenticated(`A valid ${kind} credential for this tenant is required.`);
    }
    return c;
  }
}

function record(tenantId: string, kind: 'feed' | 'agent', name: string, provider: string | null, token: string, at: number): CredentialRecord {
  if (!name || name.length > 128) throw new Error('credential name must be 1..128 characters');
  return { id: randomUUID(), tenantId, kind, name, provider, tokenHash: hashSecret(token), createdAt: at, revokedAt: null, lastSeenAt: null, confirmedSeq: null };
}

function checkTenant(tenantId: string): void {
  if (!tenantIdPattern.test(tenantId)) throw new Error(`invalid tenant id '${tenantId}'`);
}
