import { authHeaders, graphPath, type BenchContext } from '../lib/context.js';
import { json } from '../lib/http.js';
import { runTimed, type LoadResult } from '../lib/load.js';
import { waitIdle } from '../lib/proc.js';
import { defaultStoreTargets, loadFigures, target, type Row } from '../lib/report.js';
import { log } from '../lib/util.js';
import { rssTarget } from './get.js';

const filter = "status eq 'Completed' and name eq 'BlockIp'";
export const firstPagePath = `${graphPath}?$filter=${encodeURIComponent(filter)}&$top=100`;

/**
 * The list: `$filter=status eq 'Completed' and name eq 'BlockIp'&$top=100`, first page and a deep
 * page (reached by following `@odata.nextLink` `--deep-pages` times, then requested over and over).
 * Each is run at `--connections` (throughput; latency includes queueing) and at 1 connection (the
 * latency of one request alone), both with `runTimed` (load.ts says why not autocannon here).
 * Beside the many-connection runs a health check on a new connection every 50 ms shows whether
 * the busy service still takes in new connections (decision 0010, row 13).
 */
export async function runList(ctx: BenchContext, stored: number, listCache?: boolean): Promise<{ rows: Row[]; paths: string[] }> {
  // SQLite: with the cache on, every answer after the first two is served from it (nothing is
  // written during the run); off, each is computed, as the first request after a write is.
  const mode = listCache === undefined ? '' : listCache ? 'list cache on: answers repeat while nothing is written' : 'list cache off: every answer computed, as after each write';
  const deep = await followLinks(ctx, ctx.options.deepPages);
  const rows: Row[] = [];
  for (const [label, path, extra] of [
    ['first page', firstPagePath, ''],
    ['deep page', deep.path, `page ${deep.pages + 1} (rows ${(deep.pages * 100).toLocaleString('en-US')}+; ${deep.msPerPage.toFixed(1)} ms/page while following)`],
  ] as const) {
    for (const connections of [...new Set([ctx.options.connections, 1])]) {
      await waitIdle(ctx.service.pid);
      const durationS = connections === 1 ? Math.max(2, Math.ceil(ctx.options.durationS / 2)) : ctx.options.durationS;
      log(`list ${label}${listCache === false ? ', cache off' : ''}: ${stored.toLocaleString('en-US')} stored, ${connections} connection(s), ${durationS} s`);
      const probePath = connections > 1 ? '/healthz' : undefined;
      const r = await runTimed({ url: ctx.service.url, path, headers: authHeaders(ctx), connections, durationS, serverPid: ctx.service.pid, dbPid: ctx.store.dbPid, probePath });
      const probe = r.probe ? `GET /healthz on a new connection every 50 ms meanwhile: p50 ${r.probe.p50.toFixed(1)} / p99 ${r.probe.p99.toFixed(1)} ms over ${r.probe.count}, ${r.probe.failures} failed` : '';
      rows.push(listRow(ctx, `list ${label}${listCache === false ? ', computed' : ''}`, [mode, extra, probe].filter(Boolean).join('; '), stored, r));
    }
  }
  return { rows, paths: [firstPagePath, deep.path] };
}

function listRow(ctx: BenchContext, scenario: string, note: string, stored: number, r: LoadResult): Row {
  return {
    scenario,
    detail: "status eq 'Completed' and name eq 'BlockIp', $top=100",
    stored,
    ...loadFigures(r),
    targets: [...defaultStoreTargets(ctx.options.store, stored >= 1_000_000 ? [target('p99 ≤ 20 ms', r.p99 <= 20)] : []), target('0 errors', r.errors === 0), ...rssTarget(ctx, stored, r.peakRssMb)],
    note: note || undefined,
  };
}

/**
 * Follows `@odata.nextLink` from the first page up to `pages` times and returns that link's path.
 * When the chain ends earlier, the link 10 pages before its end is used instead (the last pages
 * are short, and a short page is not a deep page).
 */
async function followLinks(ctx: BenchContext, pages: number): Promise<{ path: string; pages: number; msPerPage: number }> {
  const links = [`${ctx.service.url}${firstPagePath}`];
  const started = performance.now();
  while (links.length - 1 < pages) {
    const r = await json<{ '@odata.nextLink'?: string }>('GET', links.at(-1)!, { headers: authHeaders(ctx) });
    if (r.status !== 200) throw new Error(`list: ${links.at(-1)} answered ${r.status}`);
    const next = r.body['@odata.nextLink'];
    if (!next) break;
    links.push(next);
  }
  const followed = links.length - 1;
  const msPerPage = (performance.now() - started) / Math.max(followed, 1);
  const depth = followed < pages ? Math.max(0, followed - 10) : followed;
  return { path: links[depth]!.slice(ctx.service.url.length), pages: depth, msPerPage };
}
