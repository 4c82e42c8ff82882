import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { withAdminContext } from '../../src/cli/admin-context.js';
import { loadConfig } from '../../src/config/load.js';
import { roles } from '../../src/domain/security-action.js';
import { openDatabase, type DatabaseHandle } from '../../src/storage/sql/database.js';
import type { Backend } from '../helpers/backends.js';
import { freePort, runBulwark, startBulwark, type BulwarkProcess } from '../helpers/process.js';
import { startReceiver } from './support.js';

export const webhookSecret = 'process-webhook-secret-0123456789';

/**
 * One store, one config file and one port shared by successive `bulwark serve` processes (the
 * port stays the same so tokens, whose issuer is the public URL, survive restarts).
 */
export interface ProcessRig {
  tenant: string;
  port: number;
  url: string;
  storageFlags: string[];
  /** the current process, if any */
  proc?: BulwarkProcess;
  /** `bulwark serve` (with the engine unless `--no-engine` is among `extraArgs`) */
  start(extraArgs?: string[]): Promise<BulwarkProcess>;
  /** `bulwark worker`: the engine alone, on the same store */
  startWorker(): Promise<BulwarkProcess>;
  /** worker processes started so far */
  workers: BulwarkProcess[];
  token(): Promise<string>;
  feedToken(): string;
  /** a second connection to the same store, for checks the API cannot make */
  db(): Promise<DatabaseHandle>;
  receiver: Awaited<ReturnType<typeof startReceiver>>;
  close(): Promise<void>;
}

export async function createRig(backend: Backend, options: { engine: Record<string, unknown>; receiverDelayMs: () => number }): Promise<ProcessRig> {
  const storage = await backend.fresh();
  const receiver = await startReceiver(webhookSecret, async () => {
    await new Promise((r) => setTimeout(r, options.receiverDelayMs()));
    return 200;
  });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const configFile = path.join(storage.dataDir, 'bulwark-test.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      logLevel: 'warn',
      providers: [
        { type: 'feeds', provider: 'feeds' },
        { type: 'webhook', provider: 'hook', endpoint: receiver.url, secret: webhookSecret, timeoutMs: 1000 },
      ],
      engine: options.engine,
    }),
  );
  const storageFlags = ['--data-dir', storage.dataDir, ...(storage.databaseUrl ? ['--database-url', storage.databaseUrl, '--database-schema', storage.databaseSchema!] : [])];
  const config = loadConfig({
    env: {},
    flags: { dataDir: storage.dataDir, publicUrl: url, ...(storage.databaseUrl ? { databaseUrl: storage.databaseUrl, databaseSchema: storage.databaseSchema } : {}) },
  });
  let handle: DatabaseHandle | undefined;
  let feed: string | undefined;
  const rig: ProcessRig = {
    tenant: randomUUID(),
    port,
    url,
    storageFlags,
    receiver,
    workers: [],
    async start(extraArgs = []) {
      rig.proc = await startBulwark({ port, args: ['--config', configFile, ...storageFlags, ...extraArgs] });
      return rig.proc;
    },
    async startWorker() {
      const worker = await startBulwark({ command: 'worker', args: ['--config', configFile, ...storageFlags] });
      rig.workers.push(worker);
      return worker;
    },
    token: () =>
      withAdminContext(config, async ({ issuer }) => (await issuer.issue({ tenantId: rig.tenant, appId: 'durability-test', roles: [roles.readWrite] })).accessToken),
    feedToken() {
      // The way an operator makes one: `bulwark feeds credential --tenant … --json`.
      feed ??= (JSON.parse(runBulwark(['feeds', 'credential', '--tenant', rig.tenant, '--json', ...storageFlags])) as { token: string }).token;
      return feed;
    },
    async db() {
      handle ??= await openDatabase({ dataDir: storage.dataDir, databaseUrl: storage.databaseUrl, schema: storage.databaseSchema, migrate: false, poolSize: 2 });
      return handle;
    },
    async close() {
      await rig.proc?.kill9();
      for (const w of rig.workers) await w.kill9();
      await handle?.close();
      await receiver.close();
      await storage.cleanup();
    },
  };
  return rig;
}

/** Like `fetch`, but a refused or reset connection (the process is gone) is `undefined`. */
export async function tryFetch(url: string, init: RequestInit): Promise<Response | undefined> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  } catch {
    return undefined;
  }
}
