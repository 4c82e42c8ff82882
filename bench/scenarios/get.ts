import { authHeaders, graphPath, type BenchContext } from '../lib/context.js';
import { runLoad } from '../lib/load.js';
import { waitIdle } from '../lib/proc.js';
import { defaultStoreTargets, loadFigures, target, type Row } from '../lib/report.js';
import { log } from '../lib/util.js';

/** `GET …/securityActions/{id}` with ids drawn at random from a uniform sample of the stored actions. */
export async function runGet(ctx: BenchContext, stored: number): Promise<Row> {
  const ids = ctx.seeder.sample;
  if (ids.length === 0) throw new Error('get: no seeded ids to read');
  await waitIdle(ctx.service.pid);
  log(`get: ${stored.toLocaleString('en-US')} stored, ${ctx.options.connections} connections, ${ctx.options.durationS} s`);
  const r = await runLoad({
    url: ctx.service.url,
    connections: ctx.options.connections,
    durationS: ctx.options.durationS,
    serverPid: ctx.service.pid,
    dbPid: ctx.store.dbPid,
    requests: [{ method: 'GET', headers: authHeaders(ctx), setupRequest: (req) => ({ ...req, path: `${graphPath}/${ids[Math.floor(Math.random() * ids.length)]}` }) }],
  });
  return {
    scenario: 'get',
    detail: 'by id, random',
    stored,
    ...loadFigures(r),
    targets: [...defaultStoreTargets(ctx.options.store, [target('≥ 10,000/s', r.okPerS >= 10_000)]), target('0 errors', r.errors === 0), ...rssTarget(ctx, stored, r.peakRssMb)],
  };
}

export function rssTarget(ctx: BenchContext, stored: number, peakRssMb: number) {
  return defaultStoreTargets(ctx.options.store, stored >= 1_000_000 ? [target('RSS ≤ 250 MB', peakRssMb <= 250)] : []);
}
