import { errors } from '../domain/errors.js';
import type { ProviderDescriptor } from './provider.js';

/**
 * The configured providers, registered explicitly at start-up (house style §8). Names are unique
 * case-insensitively; lookups are case-insensitive and return the canonical name.
 */
export class ProviderRegistry {
  private readonly byName = new Map<string, ProviderDescriptor>();

  constructor(private readonly defaultName: string) {}

  register(p: ProviderDescriptor): this {
    const key = p.name.toLowerCase();
    if (this.byName.has(key)) throw new Error(`provider '${p.name}' is registered twice`);
    this.byName.set(key, p);
    return this;
  }

  get(name: string): ProviderDescriptor | undefined {
    return this.byName.get(name.toLowerCase());
  }

  /** Providers a tenant can see (enabled or not), in registration order. */
  forTenant(tenantId: string): ProviderDescriptor[] {
    return [...this.byName.values()].filter((p) => !p.tenants || p.tenants.has(tenantId));
  }

  all(): ProviderDescriptor[] {
    return [...this.byName.values()];
  }

  /**
   * Picks the provider for an action: `vendorInformation.provider` when given, else the default.
   * Unknown or disabled → 400 naming what is available; unsupported action → 400 saying so.
   */
  route(tenantId: string, requested: string | null, actionName: string): ProviderDescriptor {
    const usable = this.forTenant(tenantId).filter((p) => p.enabled);
    const available = usable.map((p) => p.name).join(', ') || '(none)';
    const name = requested ?? this.defaultName;
    const p = this.get(name);
    if (!p || !p.enabled || !usable.includes(p)) {
      const what = requested ? `provider '${requested}'` : `the default provider '${this.defaultName}'`;
      throw errors.noProvider(`Cannot find a provider for this request: ${what} is not available. Available providers: ${available}.`);
    }
    if (!p.supportedActions.has(actionName)) {
      throw errors.noProvider(
        `Provider '${p.name}' cannot carry out '${actionName}'; it supports: ${[...p.supportedActions].join(', ')}.`,
      );
    }
    return p;
  }
}
