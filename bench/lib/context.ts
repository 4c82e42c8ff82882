import type { Options } from './options.js';
import type { Row } from './report.js';
import type { Seeder } from './seed.js';
import type { Service } from './service.js';
import type { Store } from './store.js';

/** What every scenario gets: the running service, its token, and where results go. */
export interface BenchContext {
  options: Options;
  store: Store;
  service: Service;
  tenantId: string;
  /** `bulwark token` output: an app token with SecurityActions.ReadWrite.All */
  token: string;
  seeder: Seeder;
  rows: Row[];
  /** extra figures for latest.json (seeding times, drain rates, CrowdSec details, …) */
  details: Record<string, unknown>;
}

export const graphPath = '/beta/security/securityActions';

export function authHeaders(ctx: BenchContext): Record<string, string> {
  return { authorization: `Bearer ${ctx.token}`, 'content-type': 'application/json', accept: 'application/json' };
}

export function blockIpBody(ip: string, reason: string, provider?: string): string {
  return JSON.stringify({
    name: 'BlockIp',
    actionReason: reason,
    parameters: [{ name: 'IP', value: ip }],
    ...(provider ? { vendorInformation: { provider } } : {}),
  });
}
