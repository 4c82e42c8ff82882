import { authHeaders, graphPath, type BenchContext } from '../lib/context.js';
import { rcodes } from '../lib/dns.js';
import { json } from '../lib/http.js';
import { awaitChange, rpzName, type Rig } from '../lib/rig.js';
import { sleep } from '../lib/util.js';

export const timeoutMs = 10_000;

/** POST an action; resolves with its id once the 201 arrived. */
export async function postAction(ctx: BenchContext, body: Record<string, unknown>): Promise<string> {
  const r = await json<{ id?: string }>('POST', `${ctx.service.url}${graphPath}`, { headers: authHeaders(ctx), body });
  if (r.status !== 201 || !r.body.id) throw new Error(`create answered ${r.status}: ${JSON.stringify(r.body).slice(0, 200)}`);
  return r.body.id;
}

export async function cancelAction(ctx: BenchContext, id: string): Promise<void> {
  const r = await json('POST', `${ctx.service.url}${graphPath}/${id}/cancelSecurityAction`, { headers: authHeaders(ctx) });
  if (r.status !== 200) throw new Error(`cancel answered ${r.status}`);
}

/** Polls GET …/{id} every 2 ms until `done(action)`; resolves with the time it was seen. */
export async function awaitAction(ctx: BenchContext, id: string, done: (a: { status: string; cancelledDateTime: string | null }) => boolean): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const r = await json<{ status: string; cancelledDateTime: string | null }>('GET', `${ctx.service.url}${graphPath}/${id}`, { headers: authHeaders(ctx) });
    if (r.status === 200 && r.body.status === 'Failed') throw new Error(`action ${id} failed`);
    if (r.status === 200 && done(r.body)) return performance.now();
    await sleep(2);
  }
  throw new Error(`action ${id} did not reach the expected state within ${timeoutMs} ms`);
}

/**
 * After the change stream reported the domain: trigger `auth_zone_transfer` (what a DNS NOTIFY
 * does) and query Unbound every millisecond until the answer is `want`; re-trigger every 250 ms
 * in case Unbound was mid-transfer. Resolves with the time the wanted answer arrived.
 */
export async function awaitDns(rig: Rig, name: string, want: 'NXDOMAIN' | 'NOERROR'): Promise<number> {
  const unbound = rig.unbound!;
  const dns = rig.dns!;
  const deadline = performance.now() + timeoutMs;
  let triggered = 0;
  while (performance.now() < deadline) {
    if (performance.now() - triggered >= 250) {
      triggered = performance.now();
      await unbound.transfer(rpzName);
    }
    const a = await dns.query(name);
    if (want === 'NXDOMAIN' ? a.rcode === rcodes.NXDOMAIN : a.rcode === rcodes.NOERROR && a.answers > 0) return performance.now();
    await sleep(1);
  }
  throw new Error(`${name} did not become ${want} within ${timeoutMs} ms`);
}

/** The RPZ path for one domain: POST/cancel → change stream → transfer → DNS answer. */
export async function rpzRoundTrip(ctx: BenchContext, rig: Rig, domain: string, op: 'added' | 'removed', act: () => Promise<unknown>): Promise<{ stream: number; dns: number }> {
  const t0 = performance.now();
  const changed = awaitChange(ctx, rig, (b) => b[op].some((e) => e.value === domain), timeoutMs);
  await act();
  const stream = await changed;
  const dns = await awaitDns(rig, domain, op === 'added' ? 'NXDOMAIN' : 'NOERROR');
  return { stream: stream - t0, dns: dns - t0 };
}

/** Runs `samples` sequential measurements; a thrown error counts as an error sample. */
export async function measure(samples: number, one: (i: number) => Promise<number>, onError: (e: Error) => void): Promise<{ ms: number[]; errors: number }> {
  const ms: number[] = [];
  let errors = 0;
  for (let i = 0; i < samples; i++) {
    try {
      ms.push(await one(i));
    } catch (e) {
      errors++;
      if (errors <= 3) onError(e as Error);
    }
  }
  return { ms, errors };
}
