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
 * answer has been read to the end, every request timed with performance.now(). Used where answers
 * are large (list pages, ~130 KB): autocannon's latencies there are not trustworthy. Against a
 * plain node:http server that spends 2 ms per request and answers 130 KB, 64 connections, 6 s:
 * four of seven autocannon runs reported p99 1.0–1.2 s and max 3.8–4.1 s, the other three p99
 * 251–252 ms, while this loop measured p99 252 ms, max 254–269 ms in each of its runs: the fair
 * queue's 64 × 2 ms, twice. Against the service this loop, too, has measured multi-second p99 in
 * some short runs (docs/decisions/0010-performance.md, row 12): not settled. Its resolution is
 * also finer than autocannon's 1 ms, which matters at 1 connection (1–3 ms per request).
 */
export async function runTimed(o: { url: string; path: string; headers: Record<string, string>; durationS: number; connections: number; serverPid: number; dbPid?: number | undefined }): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
  const sampler = new ProcSampler(o.serverPid, o.dbPid).start();
  const ms: number[] = [];
  const statusCodes: Record<string, number> = {};
  let socketErrors = 0;
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
  await Promise.all(Array.from({ length: o.connections }, loop));
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
  };
}

/** The sampler's peak RSS and CPU figures under their LoadResult names. */
function procFigures(proc: ReturnType<ProcSampler['stop']>): Pick<LoadResult, 'peakRssMb' | 'serverCpuCores' | 'dbCpuCores' | 'benchCpuCores' | 'otherCpuCores'> {
  return { peakRssMb: proc.peakRssMb, serverCpuCores: proc.cpuCores, dbCpuCores: proc.dbCores, benchCpuCores: proc.benchCores, otherCpuCores: proc.otherCores };
}
