import type { CrowdSec } from '../lib/crowdsec.js';
import { crowdsecAlert, crowdsecUserAgent } from '../lib/crowdsec.js';
import type { BenchContext } from '../lib/context.js';
import { runLoad, type LoadResult } from '../lib/load.js';
import { waitIdle } from '../lib/proc.js';
import { defaultStoreTargets, loadFigures, target, type Row } from '../lib/report.js';
import { ipv4, log } from '../lib/util.js';

/**
 * The peer: CrowdSec LAPI `POST /v1/alerts`, one alert with one ban decision per request (what
 * `cscli decisions add` sends), distinct IPs, same connections and duration as our create. Bulwark
 * is paused (SIGSTOP) meanwhile, so both get the same two cores.
 */
export async function runCrowdSec(ctx: BenchContext, cs: CrowdSec): Promise<LoadResult> {
  ctx.service.pause();
  cs.resume();
  try {
    await waitIdle(cs.pid);
    let n = 0;
    const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    log(`crowdsec: POST /v1/alerts (1 decision each), ${ctx.options.connections} connections, ${ctx.options.durationS} s`);
    return await runLoad({
      url: cs.url,
      connections: ctx.options.connections,
      durationS: ctx.options.durationS,
      serverPid: cs.pid,
      requests: [
        {
          method: 'POST',
          path: '/v1/alerts',
          headers: { authorization: `Bearer ${cs.token}`, 'content-type': 'application/json', 'user-agent': crowdsecUserAgent },
          setupRequest: (req) => ({ ...req, body: crowdsecAlert(ipv4('11.128.0.0', n++), at) }),
        },
      ],
    });
  } finally {
    cs.pause();
    ctx.service.resume();
  }
}

export function crowdsecRows(cs: CrowdSec, r: LoadResult, ours: LoadResult | undefined, store: 'sqlite' | 'postgres'): { rows: Row[]; ratio: number | undefined } {
  const ratio = ours && r.okPerS > 0 ? ours.okPerS / r.okPerS : undefined;
  const rows: Row[] = [
    {
      scenario: 'crowdsec',
      detail: `LAPI ${cs.version} POST /v1/alerts, 1 decision/request`,
      ...loadFigures(r),
      targets: [],
      note: Object.keys(r.statusCodes).some((c) => !c.startsWith('2')) ? `status ${JSON.stringify(r.statusCodes)}` : undefined,
    },
  ];
  if (ours) {
    rows.push({
      scenario: 'create vs crowdsec',
      detail: `ratio of req/s: ${ratio === undefined ? '–' : `${ratio.toFixed(2)}×`} (${Math.round(ours.okPerS)} vs ${Math.round(r.okPerS)})`,
      targets: defaultStoreTargets(store, [target('≥ 5× CrowdSec', ratio === undefined ? undefined : ratio >= 5)]),
      note: `p50 ${ours.p50.toFixed(1)} vs ${r.p50.toFixed(1)} ms, p99 ${ours.p99.toFixed(1)} vs ${r.p99.toFixed(1)} ms, errors ${ours.errors} vs ${r.errors}`,
    });
  }
  return { rows, ratio };
}
