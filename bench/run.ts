import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanupAll, installSignalHandlers } from './lib/cleanup.js';
import type { BenchContext } from './lib/context.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { parseOptions, usage, type Options } from './lib/options.js';
import { finish } from './lib/output.js';
import { reportProfiles } from './lib/profile.js';
import { setupRig } from './lib/rig.js';
import { Seeder } from './lib/seed.js';
import { bulwark, Service, writeServiceConfig } from './lib/service.js';
import { createStore, findPostmaster } from './lib/store.js';
import { freePort, log } from './lib/util.js';
import { runCancel } from './scenarios/cancel.js';
import { runGet } from './scenarios/get.js';
import { runList } from './scenarios/list.js';
import { runListFloor } from './scenarios/list-floor.js';
import { createAndPeer } from './scenarios/peer.js';
import { runTtp } from './scenarios/ttp.js';

const tenantId = '7f3a1c2e-5b6d-4e8f-9a0b-1c2d3e4f5a6b';

/**
 * `npm run bench`: one Bulwark service process (`bin/bulwark.js serve`, own data dir or PostgreSQL
 * schema, loopback), driven from this process. Order: time to protect and cancel on a fresh store,
 * create side by side with CrowdSec, then get/list at each size (service stopped, store seeded
 * directly, service started again).
 */
async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${usage}\n`);
    process.exit(2);
  }
  installSignalHandlers();
  // Children inherit the priority of the thread that forks them, so this covers everything started.
  if (options.nice !== 0) os.setPriority(options.nice);
  const started = performance.now();
  const machine = machineInfo();
  log(`machine: ${describeMachine(machine)}`);
  const store = createStore(options.store, options.databaseUrl, options.keep);
  await findPostmaster(store);
  log(`store: ${store.describe}${store.dbPid ? ` (postmaster pid ${store.dbPid}: its CPU is reported as db)` : ''}`);
  const profileDir = options.cpuProf ? fs.mkdtempSync(path.join(os.tmpdir(), 'bulwark-bench-profiles-')) : undefined;
  const service = new Service({ store, port: await freePort(), configFile: writeServiceConfig(store, options.sqliteSynchronous, listCacheModes(options)[0]), logLevel: options.serviceLogLevel, cpuProfDir: profileDir, noEngine: options.noEngine, sqlStats: options.sqlStats, apiProcesses: options.apiProcesses });
  const ctx: BenchContext = { options, store, service, tenantId, token: '', seeder: new Seeder(store, tenantId), rows: [], details: {} };
  const has = (s: Parameters<typeof options.scenarios.has>[0]) => options.scenarios.has(s);
  try {
    await service.start();
    ctx.token = (await bulwark(store, ['token', '--tenant', tenantId, '--role', 'SecurityActions.ReadWrite.All', '--user', 'bench@contoso.com', '--lifetime', '86400'])).trim();
    log(`service pid ${service.pid} on ${service.url}`);
    await scenario(ctx, 'ttp/cancel', has('ttp') || has('cancel'), async () => {
      const rig = await setupRig(ctx);
      try {
        if (has('ttp')) ctx.rows.push(...(await runTtp(ctx, rig)));
        if (has('cancel')) ctx.rows.push(...(await runCancel(ctx, rig)));
      } finally {
        await rig.stop();
      }
      service.mark('ttp/cancel');
    });
    await createAndPeer(ctx, (name, enabled, body) => scenario(ctx, name, enabled, body));
    for (const size of has('get') || has('list') ? options.sizes : []) {
      await scenario(ctx, `seed ${size}`, true, async () => {
        await service.stop();
        const seeded = await ctx.seeder.seedTo(size);
        log(`seeded ${seeded.added.toLocaleString('en-US')} actions in ${seeded.seconds.toFixed(1)} s (${Math.round(seeded.added / seeded.seconds).toLocaleString('en-US')} rows/s: rows ${seeded.rowsSeconds.toFixed(1)} s, index rebuild ${seeded.indexSeconds.toFixed(1)} s); ${seeded.stored.toLocaleString('en-US')} stored`);
        detail(ctx, 'seeding', { target: size, ...seeded });
        await service.start();
        if (has('get')) ctx.rows.push(await runGet(ctx, seeded.stored));
        if (has('list')) {
          let paths: string[] = [];
          for (const cache of listCacheModes(options)) {
            // The service starts with the cache as --list-cache asks first; `both` then restarts it without.
            if (cache !== listCacheModes(options)[0]) await restartWith(ctx, cache);
            const list = await runList(ctx, seeded.stored, options.store === 'sqlite' ? cache : undefined);
            ctx.rows.push(...list.rows);
            paths = list.paths;
          }
          writeServiceConfig(store, options.sqliteSynchronous, listCacheModes(options)[0]);
          // Once, after the last size's list rows: the same page from a server that does nothing.
          if (size === options.sizes.at(-1)) ctx.rows.push(...(await runListFloor(ctx, paths)));
        }
        service.mark(`get/list at ${seeded.stored}`);
        const peaks = ctx.rows.filter((r) => r.stored === seeded.stored && r.peakRssMb !== undefined).map((r) => r.peakRssMb!);
        detail(ctx, 'peakRssMbBySize', { stored: seeded.stored, mb: Math.round(Math.max(...peaks)) });
      });
    }
  } catch (e) {
    log(`run aborted: ${(e as Error).stack ?? e}`);
    ctx.rows.push({ scenario: 'run', targets: [], note: `aborted: ${(e as Error).message.split('\n')[0]}` });
    process.exitCode = 1;
  } finally {
    await service.stop();
    finish(ctx, machine, (performance.now() - started) / 1000, profileDir ? reportProfiles(profileDir, service.history) : undefined);
    await cleanupAll();
  }
}

/** Runs one scenario; a failure becomes a row saying why, and the run carries on (unless the service is gone). */
async function scenario(ctx: BenchContext, name: string, enabled: boolean, body: () => Promise<void>): Promise<void> {
  if (!enabled) return;
  try {
    await body();
  } catch (e) {
    log(`${name} failed: ${(e as Error).stack ?? e}`);
    ctx.rows.push({ scenario: name, targets: [], note: `failed: ${(e as Error).message.split('\n')[0]}` });
    if (!ctx.service.running) throw e;
  }
}

/** The list cache settings the list runs use, in order: true = on. */
function listCacheModes(options: Options): boolean[] {
  // PostgreSQL keeps no list cache: one pass, every answer computed.
  if (options.store === 'postgres') return [true];
  return options.listCache === 'both' ? [true, false] : [options.listCache === 'on'];
}

async function restartWith(ctx: BenchContext, listCache: boolean): Promise<void> {
  await ctx.service.stop();
  writeServiceConfig(ctx.store, ctx.options.sqliteSynchronous, listCache);
  await ctx.service.start();
}

function detail(ctx: BenchContext, key: string, value: unknown): void {
  ((ctx.details[key] ??= []) as unknown[]).push(value);
}

await main();
