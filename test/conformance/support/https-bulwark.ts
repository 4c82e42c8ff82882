import { randomUUID } from 'node:crypto';
import { withAdminContext } from '../../../src/cli/admin-context.js';
import { roles } from '../../../src/domain/security-action.js';
import type { Backend } from '../../helpers/backends.js';
import { startTestService, type TestService } from '../../helpers/service.js';
import { createSelfSignedCertificate, trustCertificateInFetch, type TestCertificate } from './tls.js';

export interface RegisteredApp {
  tenantId: string;
  clientId: string;
  clientSecret: string;
}

export interface HttpsBulwark {
  svc: TestService;
  cert: TestCertificate;
  /** `https://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** registers an application with the real IdentityService (what `bulwark apps create` does) */
  registerApp(options?: { tenantId?: string; roles?: string[] }): Promise<RegisteredApp>;
  /** a token from the real token endpoint (OAuth 2.0 client credentials, form-encoded) */
  clientCredentialsToken(app: RegisteredApp, scope?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts a real Bulwark serving HTTPS with a per-run self-signed certificate and makes this process's
 * `fetch` trust that certificate (see tls.ts). Close it to restore the trust store and remove the files.
 */
export async function startHttpsBulwark(
  options: { backend?: Backend; overrides?: Record<string, unknown>; engine?: boolean } = {},
): Promise<HttpsBulwark> {
  const cert = createSelfSignedCertificate();
  const restoreTrust = await trustCertificateInFetch(cert.certPem);
  let svc: TestService;
  try {
    svc = await startTestService({
      ...(options.backend ? { backend: options.backend } : {}),
      engine: options.engine ?? true,
      overrides: { tlsCert: cert.certPath, tlsKey: cert.keyPath, ...(options.overrides ?? {}) },
    });
  } catch (e) {
    await restoreTrust();
    cert.remove();
    throw e;
  }
  const url = svc.url;
  if (!url.startsWith('https://127.0.0.1:')) throw new Error(`expected an https://127.0.0.1 URL, got ${url}`);
  const port = Number(new URL(url).port);
  return {
    svc,
    cert,
    url,
    port,
    async registerApp(o = {}) {
      const tenantId = o.tenantId ?? randomUUID();
      const { app, clientSecret } = await withAdminContext(svc.config, ({ identity }) =>
        identity.createApp(tenantId, `conformance-${randomUUID().slice(0, 8)}`, o.roles ?? [roles.readWrite]),
      );
      return { tenantId, clientId: app.clientId, clientSecret };
    },
    async clientCredentialsToken(app, scope = 'api://bulwark/.default') {
      const res = await fetch(`${url}/${app.tenantId}/oauth2/v2.0/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: app.clientId, client_secret: app.clientSecret, scope }),
      });
      const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
      if (res.status !== 200 || !body.access_token) throw new Error(`token endpoint answered ${res.status}: ${body.error} ${body.error_description}`);
      return body.access_token;
    },
    async close() {
      try {
        await svc.close();
      } finally {
        await restoreTrust();
        cert.remove();
      }
    },
  };
}
