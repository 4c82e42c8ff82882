import type { BenchContext } from '../lib/context.js';
import { startCrowdSec, type CrowdSec } from '../lib/crowdsec.js';
import type { LoadResult } from '../lib/load.js';
import { treeCpuSeconds } from '../lib/proc.js';
import { defaultStoreTargets } from '../lib/report.js';
import { log } from '../lib/util.js';
import { createRow, runCreate, waitForDrain } from './create.js';
import { crowdsecRows, runCrowdSec } from './crowdsec.js';

type Guard = (name: string, enabled: boolean, body: () => Promise<void>) => Promise<void>;

/** Our create, then — from the same run — CrowdSec's LAPI at the same connections and duration. */
export async function createAndPeer(ctx: BenchContext, scenario: Guard): Promise<void> {
  const { scenarios } = ctx.options;
  let cs: CrowdSec | undefined;
  if (scenarios.has('crowdsec')) {
    try {
      log('crowdsec: starting the LAPI');
      cs = await startCrowdSec();
      cs.pause();
      ctx.details['crowdsec'] = { version: cs.version, url: cs.url };
    } catch (e) {
      const why = (e as Error).message.split('\n')[0]!;
      log(`crowdsec: not available: ${why}`);
      ctx.rows.push({ scenario: 'crowdsec', targets: defaultStoreTargets(ctx.options.store, [{ text: '≥ 5× CrowdSec', pass: undefined }]), note: `not available: ${why}` });
    }
  }
  let ours: LoadResult | undefined;
  await scenario('create', scenarios.has('create'), async () => {
    ours = await runCreate(ctx);
    ctx.service.mark('create');
    ctx.rows.push(createRow(ctx, ours, ctx.options.store));
  });
  if (cs) {
    await scenario('crowdsec', true, async () => {
      const theirs = await runCrowdSec(ctx, cs!);
      const { rows, ratio } = crowdsecRows(cs!, theirs, ours, ctx.options.store);
      ctx.rows.push(...rows);
      ctx.details['crowdsec'] = { version: cs!.version, result: theirs, ratio };
    });
    await cs.stop();
  }
  if (ours && !ctx.options.noEngine) {
    await checkAlive(ctx, 'create');
    const drain = await waitForDrain(ctx, Math.round(ours.okPerS * ours.durationS), ours.durationS);
    await checkAlive(ctx, 'create drain');
    ctx.details['createDrain'] = drain;
    const row = ctx.rows.find((r) => r.scenario === 'create');
    const what = drain.leftover === 0
      ? `engine enforced all ${drain.drainSeconds.toFixed(1)} s after the load: ${Math.round(drain.enforcedPerS).toLocaleString('en-US')} enforced/s end to end`
      : `engine behind: ${drain.leftover.toLocaleString('en-US')} jobs still pending ${drain.drainSeconds.toFixed(0)} s after the load (${Math.round(drain.enforcedPerS).toLocaleString('en-US')} enforced/s)`;
    if (row) row.note = [row.note, what].filter(Boolean).join('; ');
  }
}

/**
 * A service that stopped answering (a blocked event loop) is evidence, not a reason to stop the
 * run: record how much CPU it burns while answering nothing, then kill and restart it.
 */
async function checkAlive(ctx: BenchContext, after: string): Promise<void> {
  if (await ctx.service.responsive()) return;
  const c0 = treeCpuSeconds(ctx.service.pid);
  await new Promise((r) => setTimeout(r, 2000));
  const busy = (treeCpuSeconds(ctx.service.pid) - c0) / 2;
  const stillDead = !(await ctx.service.responsive(1000));
  if (!stillDead) return;
  const note = `service stopped answering after ${after} (no /healthz reply in 3 s; it used ${busy.toFixed(2)} cores meanwhile — a busy event loop); killed and restarted`;
  log(note);
  ((ctx.details['hangs'] ??= []) as unknown[]).push({ after, cpuCoresWhileUnresponsive: busy });
  const row = ctx.rows.find((r) => r.scenario === 'create');
  if (row) row.note = [row.note, note].filter(Boolean).join('; ');
  await ctx.service.kill();
  await ctx.service.start();
}

