import http from 'node:http';
import autocannon, { type RequestSpec } from 'autocannon';
import { request } from './http.js';
import { ProcSampler } from './proc.js';
import { percentile } from './util.js';

export interface LoadOptions {
  url: string;
  connections: number;
  durationS: number;
  headers?: Record<string, string>;
  requests: RequestSpec[];
  /** the server process whose peak RSS and CPU are sampled during the run */
  serverPid: number;
  /** its database server (PostgreSQL postmaster), if any */
  dbPid?: number | undefined;
}

export interface LoadResult {
  connections: number;
  durationS: number;
  /** every response received */
  responses: number;
  /** 2xx responses per second: the throughput reported */
  okPerS: number;
  p50: number;
  p99: number;
  max: number;
  /** non-2xx responses + socket errors (timeouts included) */
  errors: number;
  non2xx: number;
  socketErrors: number;
  statusCodes: Record<string, number>;
  peakRssMb: number;
  serverCpuCores: number;
  /** PostgreSQL's CPU (all its processes), when local */
  dbCpuCores: number | undefined;
  /** the load generator's CPU (this process) */
  benchCpuCores: number;
  /** CPU used by everything else on the machine meanwhile (other users' processes: noise) */
  otherCpuCores: number;
}

/**
 * One autocannon run (programmatic API, in the bench process; the server is another process).
 * `requests` may carry `setupRequest` to give every request its own body or path.
 */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const sampler = new ProcSampler(o.serverPid, o.dbPid).start();
  const instance = autocannon({
    url: o.url,
    connections: o.connections,
    duration: o.durationS,
    timeout: 10,
    headers: o.headers,
    requests: o.requests,
  });
  const r = await instance;
  const proc = sampler.stop();
  const statusCodes = Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, Number(v.count)]));
  const responses = Object.values(statusCodes).reduce((a, b) => a + b, 0);
  return {
    connections: o.connections,
    durationS: r.duration,
    responses,
    okPerS: r['2xx'] / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    max: r.latency.max,
    errors: r.non2xx + r.errors,
    non2xx: r.non2xx,
    socketErrors: r.errors,
    statusCodes,
    ...procFigures(proc),
  };
}

/**
 * `connections` keep-alive connections (node:http), each sending its next request when the last
 * answer has been read to the end, every request timed with performance.now() (finer than
 * autocannon's 1 ms, which matters at 1 connection: 1–3 ms per request). Used where answers are
 * large (list pages, ~130 KB).
 *
 * Every connection is opened, with one untimed request, before the clock starts. Node's server
 * (libuv ≥ 1.45, libuv/libuv#3696) takes one new connection per event-loop turn; once the service
 * is busy a turn lasts as long as all the requests ready in it (~30 list pages of 3 ms), so
 * connections opened as a burst into a busy service wait up to seconds to be accepted. Measured
 * with a plain node:http server (2.5 ms per request, 130 KB answers, 64 connections, 3 s): the last
 * connections were accepted 3.1 s after the client had connected and sent its request, one every
 * ~100 ms; the same with the server behind node:cluster. That wait belongs to the connection
 * burst, not to a list request, and it made the multi-second p99 of short runs (decision 0010,
 * row 12). autocannon opens its connections inside its timed window, so its figures for these
 * runs carried the same wait.
 */
export async function runTimed(o: {
  url: string;
  path: string;
  headers: Record<string, string>;
  durationS: number;
  connections: number;
  serverPid: number;
  dbPid?: number | undefined;
  /** also GET this path on a new connection every 50 ms during the run, as a load balancer's health check does */
  probePath?: string;
}): Promise<LoadResult & { probe?: ProbeResult }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
  const sampler = new ProcSampler(o.serverPid, o.dbPid).start();
  const ms: number[] = [];
  const statusCodes: Record<string, number> = {};
  let socketErrors = 0;
  await Promise.all(Array.from({ length: o.connections }, () => request('GET', `${o.url}${o.path}`, { headers: o.headers, agent, discardBody: true })));
  const started = performance.now();
  const end = started + o.durationS * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const r = await request('GET', `${o.url}${o.path}`, { headers: o.headers, agent, discardBody: true });
        ms.push(performance.now() - t0);
        statusCodes[String(r.status)] = (statusCodes[String(r.status)] ?? 0) + 1;
      } catch {
        socketErrors++;
      }
    }
  };
  const probeMs: number[] = [];
  let probeFailures = 0;
  const probe = async (path: string) => {
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        const r = await request('GET', `${o.url}${path}`, { agent: false, discardBody: true });
        if (r.status === 200) probeMs.push(performance.now() - t0);
        else probeFailures++;
      } catch {
        probeFailures++;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await Promise.all([...Array.from({ length: o.connections }, loop), ...(o.probePath ? [probe(o.probePath)] : [])]);
  const seconds = (performance.now() - started) / 1000;
  const proc = sampler.stop();
  agent.destroy();
  const ok = Object.entries(statusCodes).filter(([c]) => c.startsWith('2')).reduce((a, [, n]) => a + n, 0);
  const non2xx = ms.length - ok;
  return {
    connections: o.connections,
    durationS: seconds,
    responses: ms.length,
    okPerS: ok / seconds,
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    max: ms.reduce((a, b) => Math.max(a, b), 0),
    errors: non2xx + socketErrors,
    non2xx,
    socketErrors,
    statusCodes,
    ...procFigures(proc),
    ...(o.probePath ? { probe: { count: probeMs.length, failures: probeFailures, p50: percentile(probeMs, 50), p99: percentile(probeMs, 99), max: probeMs.reduce((a, b) => Math.max(a, b), 0) } } : {}),
  };
}

/** Requests on new connections made beside a load run (`runTimed`'s `probePath`). */
export interface ProbeResult {
  /** answered with 200 */
  count: number;
  /** any other status, or a socket error */
  failures: number;
  p50: number;
  p99: number;
  max: number;
}

/** The sampler's peak RSS and CPU figures under their LoadResult names. */
function procFigures(proc: ReturnType<ProcSampler['stop']>): Pick<LoadResult, 'peakRssMb' | 'serverCpuCores' | 'dbCpuCores' | 'benchCpuCores' | 'otherCpuCores'> {
  return { peakRssMb: proc.peakRssMb, serverCpuCores: proc.cpuCores, dbCpuCores: proc.dbCores, benchCpuCores: proc.benchCores, otherCpuCores: proc.otherCores };
}
