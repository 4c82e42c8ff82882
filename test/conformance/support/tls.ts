import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';

export interface TestCertificate {
  dir: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  remove(): void;
}

/**
 * A throwaway self-signed certificate for 127.0.0.1/localhost, made with the openssl CLI exactly as
 * the docs tell an operator to (one per test run; never checked in).
 */
export function createSelfSignedCertificate(): TestCertificate {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-conformance-tls-'));
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyPath, '-out', certPath],
    { stdio: 'pipe' },
  );
  return { dir, certPath, keyPath, certPem: fs.readFileSync(certPath, 'utf8'), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

const globalDispatcherSymbol = Symbol.for('undici.globalDispatcher.1');
type Dispatcher = { close?(): Promise<void> };
type AgentConstructor = new (options: { connect: { ca: string[] } }) => Dispatcher;

/**
 * Makes Node's built-in `fetch` trust `certPem` in addition to the public roots — the in-process
 * equivalent of starting Node with `NODE_EXTRA_CA_CERTS=<cert>` (which Node reads only at start-up).
 *
 * Node 20's fetch is undici, bundled inside Node; the `undici` package is not a dependency here. Every
 * undici copy, including Node's, reads its global dispatcher from `Symbol.for('undici.globalDispatcher.1')`
 * (that shared slot is how `undici.setGlobalDispatcher` reaches Node's fetch). We take the bundled
 * `Agent` class from the default dispatcher Node installs there and put in an Agent whose TLS
 * connector trusts the extra CA. The clients under test keep using plain global `fetch` (graph-client
 * v3's HTTPMessageHandler, Kiota's default fetch handler and MSAL Node 7's HttpClient all call it), so
 * nothing in their request pipelines is replaced. Returns a function that restores the previous dispatcher.
 */
export async function trustCertificateInFetch(certPem: string): Promise<() => Promise<void>> {
  // The first fetch makes Node load undici, which installs its default Agent; a data: URL needs no network.
  await (await fetch('data:text/plain,init')).text();
  const g = globalThis as Record<symbol, unknown>;
  const previous = g[globalDispatcherSymbol] as Dispatcher | undefined;
  const Agent = (previous as { constructor?: unknown } | undefined)?.constructor as AgentConstructor | undefined;
  if (!previous || typeof Agent !== 'function' || Agent.name !== 'Agent') {
    throw new Error("Node's fetch exposes no undici Agent at Symbol.for('undici.globalDispatcher.1'); this Node version needs another TLS-trust approach");
  }
  const trusting = new Agent({ connect: { ca: [...tls.rootCertificates, certPem] } });
  g[globalDispatcherSymbol] = trusting;
  return async () => {
    g[globalDispatcherSymbol] = previous;
    await trusting.close?.();
  };
}

/** A `node:https` agent that trusts `certPem` too (for clients built on node:https, e.g. @azure/core-rest-pipeline). */
export function httpsAgentTrusting(certPem: string): https.Agent {
  return new https.Agent({ ca: [...tls.rootCertificates, certPem], keepAlive: false });
}
