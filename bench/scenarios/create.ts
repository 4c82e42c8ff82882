import { authHeaders, blockIpBody, graphPath, type BenchContext } from '../lib/context.js';
import { runLoad, type LoadResult } from '../lib/load.js';
import { waitIdle } from '../lib/proc.js';
import { loadFigures, target, type Row } from '../lib/report.js';
import { pendingJobs } from '../lib/store.js';
import { ipv4, log, sleep } from '../lib/util.js';

/**
 * `POST …/securityActions` BlockIp with a distinct IP per request (11.0.0.0 + a counter) at
 * `--connections` for `--duration`, one token. Errors = non-2xx + socket errors.
 */
export async function runCreate(ctx: BenchContext): Promise<LoadResult> {
  await waitIdle(ctx.service.pid);
  let n = 0;
  log(`create: POST BlockIp, ${ctx.options.connections} connections, ${ctx.options.durationS} s`);
  const result = await runLoad({
    url: ctx.service.url,
    connections: ctx.options.connections,
    durationS: ctx.options.durationS,
    serverPid: ctx.service.pid,
    dbPid: ctx.store.dbPid,
    requests: [
      {
        method: 'POST',
        path: graphPath,
        headers: authHeaders(ctx),
        setupRequest: (req) => ({ ...req, body: blockIpBody(ipv4('11.0.0.0', n++), 'bench create') }),
      },
    ],
  });
  return result;
}

export function createRow(ctx: BenchContext, r: LoadResult, store: 'sqlite' | 'postgres'): Row {
  const minRate = store === 'sqlite' ? 5000 : 3000;
  return {
    scenario: 'create',
    detail: 'POST BlockIp, distinct IPs',
    ...loadFigures(r),
    targets: [
      target(`≥ ${minRate.toLocaleString('en-US')}/s`, r.okPerS >= minRate),
      ...(store === 'sqlite' ? [target('p99 ≤ 25 ms', r.p99 <= 25)] : []),
      target('0 errors', r.errors === 0),
    ],
    note: Object.keys(r.statusCodes).some((c) => !c.startsWith('2')) ? `status ${JSON.stringify(r.statusCodes)}` : undefined,
  };
}

/**
 * After the load: how long the engine needs to enforce everything that was accepted (jobs table
 * empty), i.e. the sustained create→enforced rate.
 */
export async function waitForDrain(ctx: BenchContext, created: number, loadSeconds: number): Promise<{ drainSeconds: number; enforcedPerS: number; leftover: number }> {
  const started = performance.now();
  let left = await pendingJobs(ctx.store);
  let progressAt = performance.now();
  while (left > 0 && performance.now() - started < 120_000 && performance.now() - progressAt < 20_000) {
    await sleep(200);
    const now = await pendingJobs(ctx.store);
    if (now < left) progressAt = performance.now();
    left = now;
  }
  const drainSeconds = (performance.now() - started) / 1000;
  const enforcedPerS = (created - left) / (loadSeconds + drainSeconds);
  log(`create: engine backlog drained ${drainSeconds.toFixed(1)} s after the load (${Math.round(enforcedPerS)} actions/s enforced end to end)${left > 0 ? `, ${left} jobs still pending` : ''}`);
  return { drainSeconds, enforcedPerS, leftover: left };
}
