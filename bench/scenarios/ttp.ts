import type { BenchContext } from '../lib/context.js';
import { ProcSampler } from '../lib/proc.js';
import { defaultStoreTargets, target, type Row } from '../lib/report.js';
import { awaitChange, awaitFeed, dnsZone, hasLine, type Rig } from '../lib/rig.js';
import { ipv4, log, percentile } from '../lib/util.js';
import { awaitAction, measure, postAction, rpzRoundTrip, timeoutMs } from './probes.js';

const blockIp = (ip: string, provider?: string) => ({ name: 'BlockIp', actionReason: 'bench ttp', parameters: [{ name: 'IP', value: ip }], ...(provider ? { vendorInformation: { provider } } : {}) });
const blockDomain = (d: string) => ({ name: 'BlockDomain', actionReason: 'bench ttp', parameters: [{ name: 'Domain', value: d }] });

/**
 * Time to protect, one action at a time, `--samples` each, from just before the POST is sent:
 * - feed, ip.txt: until a GET of ip.txt (back-to-back polls with If-None-Match) lists the IP;
 * - feed, change stream: until a long poll on /feeds/{t}/changes (opened before the POST) reports it;
 * - rpz: until Unbound answers NXDOMAIN for the domain (change stream → auth_zone_transfer → queries);
 * - agent: until the action reads `Completed`, i.e. the nftables agent confirmed it (GET every 2 ms).
 */
export async function runTtp(ctx: BenchContext, rig: Rig): Promise<Row[]> {
  const n = ctx.options.samples;
  const sampler = new ProcSampler(ctx.service.pid, ctx.store.dbPid).start();
  const rows: Row[] = [];
  const say = (what: string) => (e: Error) => log(`ttp ${what}: ${e.message}`);
  const active = () => rig.ipBody.split('\n').filter(Boolean).length;

  log(`ttp: feed via ip.txt polling, ${n} actions`);
  const feed = await measure(n, async (i) => {
    const ip = ipv4('12.0.0.0', i);
    const t0 = performance.now();
    const posted = postAction(ctx, blockIp(ip));
    const seen = await awaitFeed(ctx, rig, (body) => hasLine(body, ip), timeoutMs);
    await posted;
    return seen - t0;
  }, say('feed'));
  rows.push(row('feed: ip.txt lists the IP', feed, defaultStoreTargets(ctx.options.store, [target('p99 ≤ 50 ms', percentile(feed.ms, 99) <= 50)]), `${active()} IPs in ip.txt at the end`));

  log(`ttp: feed via change-stream long poll, ${n} actions`);
  const stream = await measure(n, async (i) => {
    const ip = ipv4('12.1.0.0', i);
    const t0 = performance.now();
    const changed = awaitChange(ctx, rig, (b) => b.added.some((a) => a.value === ip), timeoutMs);
    await postAction(ctx, blockIp(ip));
    return (await changed) - t0;
  }, say('stream'));
  rows.push(row('feed: change stream reports it', stream, defaultStoreTargets(ctx.options.store, [target('p99 ≤ 50 ms', percentile(stream.ms, 99) <= 50)])));

  if (rig.unbound) {
    log(`ttp: RPZ in Unbound, ${n} BlockDomain actions`);
    const streamMs: number[] = [];
    const rpz = await measure(n, async (i) => {
      const domain = `p${i}.${dnsZone}`;
      const r = await rpzRoundTrip(ctx, rig, domain, 'added', () => postAction(ctx, blockDomain(domain)));
      streamMs.push(r.stream);
      return r.dns;
    }, say('rpz'));
    rows.push(row('rpz: Unbound answers NXDOMAIN', rpz, [], `of which to change stream p50 ${percentile(streamMs, 50).toFixed(1)} / p99 ${percentile(streamMs, 99).toFixed(1)} ms`));
  } else rows.push(unavailable('rpz: Unbound answers NXDOMAIN', rig.unboundError));

  if (rig.agent && !rig.agentError) {
    log(`ttp: nftables agent confirmation, ${n} actions`);
    const agent = await measure(n, async (i) => {
      const ip = ipv4('12.2.0.0', i);
      const t0 = performance.now();
      const id = await postAction(ctx, blockIp(ip, 'nftables'));
      return (await awaitAction(ctx, id, (a) => a.status === 'Completed')) - t0;
    }, say('agent'));
    rows.push(row('agent: nftables agent confirmed', agent, defaultStoreTargets(ctx.options.store, [target('p99 ≤ 250 ms', percentile(agent.ms, 99) <= 250)])));
  } else rows.push(unavailable('agent: nftables agent confirmed', rig.agentError, defaultStoreTargets(ctx.options.store, [target('p99 ≤ 250 ms', undefined)])));

  const proc = sampler.stop();
  for (const r of rows) Object.assign(r, { peakRssMb: proc.peakRssMb, serverCpu: proc.cpuCores, dbCpu: proc.dbCores, benchCpu: proc.benchCores, otherCpu: proc.otherCores });
  return rows;
}

export function row(detail: string, m: { ms: number[]; errors: number }, targets: Row['targets'], note?: string, scenario = 'time to protect'): Row {
  const zeroErrors = m.errors === 0 ? [] : [{ text: '0 timeouts', pass: false }];
  return { scenario, detail, p50: percentile(m.ms, 50), p99: percentile(m.ms, 99), errors: m.errors, samples: m.ms.length + m.errors, targets: [...targets, ...zeroErrors], note };
}

export function unavailable(detail: string, reason: string | undefined, targets: Row['targets'] = [], scenario = 'time to protect'): Row {
  return { scenario, detail, targets, note: `not available: ${reason ?? 'unknown'}` };
}
