import type { BenchContext } from '../lib/context.js';
import { ProcSampler } from '../lib/proc.js';
import { defaultStoreTargets, target, type Row } from '../lib/report.js';
import { awaitChange, awaitFeed, dnsZone, hasLine, type Rig } from '../lib/rig.js';
import { ipv4, log, percentile } from '../lib/util.js';
import { awaitAction, awaitDns, cancelAction, measure, postAction, rpzRoundTrip, timeoutMs } from './probes.js';
import { row, unavailable } from './ttp.js';

const blockIp = (ip: string, provider?: string) => ({ name: 'BlockIp', actionReason: 'bench cancel', parameters: [{ name: 'IP', value: ip }], ...(provider ? { vendorInformation: { provider } } : {}) });
const blockDomain = (d: string) => ({ name: 'BlockDomain', actionReason: 'bench cancel', parameters: [{ name: 'Domain', value: d }] });

/**
 * Cancel, the mirror of time to protect: `--samples` actions per enforcement point are created and
 * confirmed in force first (not measured); then, one at a time, from just before
 * `cancelSecurityAction` is sent until the block is gone: the IP no longer in ip.txt / a `removed`
 * in the change stream / Unbound answering NOERROR again / the action `Completed` again with
 * `cancelledDateTime` (the agent confirmed the removal).
 */
export async function runCancel(ctx: BenchContext, rig: Rig): Promise<Row[]> {
  const n = ctx.options.samples;
  const sampler = new ProcSampler(ctx.service.pid, ctx.store.dbPid).start();
  const rows: Row[] = [];
  const say = (what: string) => (e: Error) => log(`cancel ${what}: ${e.message}`);
  const inForce = async (value: string, body: Record<string, unknown>) => {
    const changed = awaitChange(ctx, rig, (b) => b.added.some((a) => a.value === value), timeoutMs);
    const id = await postAction(ctx, body);
    await changed;
    return id;
  };

  log(`cancel: preparing ${2 * n} feed actions`);
  const feedIds: string[] = [];
  for (let i = 0; i < 2 * n; i++) feedIds.push(await inForce(ipv4('13.0.0.0', i), blockIp(ipv4('13.0.0.0', i))));
  await awaitFeed(ctx, rig, (body) => hasLine(body, ipv4('13.0.0.0', 2 * n - 1)), timeoutMs);

  log(`cancel: feed via ip.txt polling, ${n} actions`);
  const feed = await measure(n, async (i) => {
    const ip = ipv4('13.0.0.0', i);
    const t0 = performance.now();
    const cancelled = cancelAction(ctx, feedIds[i]!);
    const gone = await awaitFeed(ctx, rig, (body) => !hasLine(body, ip), timeoutMs);
    await cancelled;
    return gone - t0;
  }, say('feed'));
  rows.push(row('feed: IP gone from ip.txt', feed, defaultStoreTargets(ctx.options.store, [target('p99 ≤ 50 ms', percentile(feed.ms, 99) <= 50)]), undefined, 'cancel'));

  log(`cancel: feed via change-stream long poll, ${n} actions`);
  const stream = await measure(n, async (i) => {
    const ip = ipv4('13.0.0.0', n + i);
    const t0 = performance.now();
    const changed = awaitChange(ctx, rig, (b) => b.removed.some((a) => a.value === ip), timeoutMs);
    await cancelAction(ctx, feedIds[n + i]!);
    return (await changed) - t0;
  }, say('stream'));
  rows.push(row('feed: change stream reports removal', stream, defaultStoreTargets(ctx.options.store, [target('p99 ≤ 50 ms', percentile(stream.ms, 99) <= 50)]), undefined, 'cancel'));

  if (rig.unbound) {
    log(`cancel: preparing ${n} BlockDomain actions`);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push(await inForce(`c${i}.${dnsZone}`, blockDomain(`c${i}.${dnsZone}`)));
    await awaitDns(rig, `c${n - 1}.${dnsZone}`, 'NXDOMAIN');
    log(`cancel: RPZ in Unbound, ${n} actions`);
    const streamMs: number[] = [];
    const rpz = await measure(n, async (i) => {
      const r = await rpzRoundTrip(ctx, rig, `c${i}.${dnsZone}`, 'removed', () => cancelAction(ctx, ids[i]!));
      streamMs.push(r.stream);
      return r.dns;
    }, say('rpz'));
    rows.push(row('rpz: Unbound answers NOERROR again', rpz, [], `of which to change stream p50 ${percentile(streamMs, 50).toFixed(1)} / p99 ${percentile(streamMs, 99).toFixed(1)} ms`, 'cancel'));
  } else rows.push(unavailable('rpz: Unbound answers NOERROR again', rig.unboundError, [], 'cancel'));

  if (rig.agent && !rig.agentError) {
    log(`cancel: preparing ${n} nftables-agent actions`);
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const id = await postAction(ctx, blockIp(ipv4('13.2.0.0', i), 'nftables'));
      await awaitAction(ctx, id, (a) => a.status === 'Completed');
      ids.push(id);
    }
    log(`cancel: nftables agent confirms removal, ${n} actions`);
    const agent = await measure(n, async (i) => {
      const t0 = performance.now();
      await cancelAction(ctx, ids[i]!);
      return (await awaitAction(ctx, ids[i]!, (a) => a.status === 'Completed' && a.cancelledDateTime !== null)) - t0;
    }, say('agent'));
    rows.push(row('agent: nftables agent confirmed removal', agent, defaultStoreTargets(ctx.options.store, [target('p99 ≤ 250 ms', percentile(agent.ms, 99) <= 250)]), undefined, 'cancel'));
  } else rows.push(unavailable('agent: nftables agent confirmed removal', rig.agentError, defaultStoreTargets(ctx.options.store, [target('p99 ≤ 250 ms', undefined)]), 'cancel'));

  const proc = sampler.stop();
  for (const r of rows) Object.assign(r, { peakRssMb: proc.peakRssMb, serverCpu: proc.cpuCores, dbCpu: proc.dbCores, benchCpu: proc.benchCores, otherCpu: proc.otherCores });
  return rows;
}
