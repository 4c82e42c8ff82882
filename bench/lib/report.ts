import type { LoadResult } from './load.js';

/** One line of the results table. Latencies in ms, RSS in MB, CPU in cores of the service process. */
export interface Row {
  scenario: string;
  detail?: string;
  stored?: number;
  connections?: number;
  /** 2xx per second (load scenarios) */
  throughput?: number;
  p50?: number;
  p99?: number;
  /** non-2xx + socket errors (load), or probes that never saw the change (latency scenarios) */
  errors?: number;
  samples?: number;
  peakRssMb?: number;
  serverCpu?: number;
  /** PostgreSQL (all its processes), when the store is a local PostgreSQL */
  dbCpu?: number | undefined;
  /** the load generator (bench process) */
  benchCpu?: number;
  /** everything else on the machine during the measurement: noise from other users */
  otherCpu?: number;
  targets: Target[];
  note?: string;
}

/** The measured columns of a row from one load run. */
export function loadFigures(r: LoadResult): Pick<Row, 'connections' | 'throughput' | 'p50' | 'p99' | 'errors' | 'peakRssMb' | 'serverCpu' | 'dbCpu' | 'benchCpu' | 'otherCpu'> {
  return {
    connections: r.connections,
    throughput: r.okPerS,
    p50: r.p50,
    p99: r.p99,
    errors: r.errors,
    peakRssMb: r.peakRssMb,
    serverCpu: r.serverCpuCores,
    dbCpu: r.dbCpuCores,
    benchCpu: r.benchCpuCores,
    otherCpu: r.otherCpuCores,
  };
}

export interface Target {
  text: string;
  /** undefined: could not be judged (e.g. not measured) */
  pass: boolean | undefined;
}

export const target = (text: string, pass: boolean | undefined): Target => ({ text, pass });

/**
 * Issue 5 sets its targets for the default store. On PostgreSQL it sets one (create ≥ 3,000/s,
 * in create.ts); the other figures are reported there without a verdict.
 */
export const defaultStoreTargets = (store: 'sqlite' | 'postgres', targets: Target[]): Target[] => (store === 'sqlite' ? targets : []);
const mark = (t: Target) => `${t.pass === undefined ? '?' : t.pass ? '✔' : '✘'} ${t.text}`;

const fmt = (v: number | undefined, digits = 0) =>
  v === undefined || !Number.isFinite(v) ? '–' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

const columns: { head: string; cell: (r: Row) => string; right?: boolean }[] = [
  { head: 'scenario', cell: (r) => r.scenario },
  { head: 'detail', cell: (r) => r.detail ?? '' },
  { head: 'stored', cell: (r) => fmt(r.stored), right: true },
  { head: 'conns', cell: (r) => fmt(r.connections), right: true },
  { head: 'req/s', cell: (r) => fmt(r.throughput), right: true },
  { head: 'p50 ms', cell: (r) => fmt(r.p50, 1), right: true },
  { head: 'p99 ms', cell: (r) => fmt(r.p99, 1), right: true },
  { head: 'errors', cell: (r) => (r.samples !== undefined ? `${fmt(r.errors)}/${fmt(r.samples)}` : fmt(r.errors)), right: true },
  { head: 'peak RSS MB', cell: (r) => fmt(r.peakRssMb), right: true },
  { head: 'CPU svc/db/gen/other', cell: (r) => (r.serverCpu === undefined ? '–' : [r.serverCpu, r.dbCpu, r.benchCpu, r.otherCpu].map((v) => fmt(v, 2)).join('/')), right: true },
  { head: 'targets', cell: (r) => r.targets.map(mark).join('; ') + (r.note ? `${r.targets.length ? ' — ' : ''}${r.note}` : '') },
];

/** Plain-text table for the terminal. */
export function textTable(rows: readonly Row[]): string {
  const cells = rows.map((r) => columns.map((c) => c.cell(r)));
  const width = columns.map((c, i) => Math.max(c.head.length, ...cells.map((row) => [...row[i]!].length)));
  const line = (values: string[]) => values.map((v, i) => (columns[i]!.right ? v.padStart(width[i]!) : v.padEnd(width[i]!))).join('  ').trimEnd();
  return [line(columns.map((c) => c.head)), width.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

/** The same table in Markdown (docs/benchmarks.md, README). */
export function markdownTable(rows: readonly Row[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${columns.map((c) => c.head).join(' | ')} |`,
    `|${columns.map((c) => (c.right ? '---:' : '---')).join('|')}|`,
    ...rows.map((r) => `| ${columns.map((c) => esc(c.cell(r))).join(' | ')} |`),
  ].join('\n');
}
