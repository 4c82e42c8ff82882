import { parseArgs } from 'node:util';

export const allScenarios = ['create', 'crowdsec', 'get', 'list', 'ttp', 'cancel'] as const;
export type ScenarioName = (typeof allScenarios)[number];

export interface Options {
  scenarios: Set<ScenarioName>;
  store: 'sqlite' | 'postgres';
  databaseUrl: string;
  durationS: number;
  connections: number;
  sizes: number[];
  /** actions per time-to-protect / cancel sub-scenario */
  samples: number;
  /** how many `@odata.nextLink` pages the deep-page scenario follows before hammering */
  deepPages: number;
  quick: boolean;
  cpuProf: boolean;
  serviceLogLevel: string;
  /** scheduling priority of the bench and everything it starts (they inherit it); 0 = unchanged */
  nice: number;
  /** diagnostic: time every SQL statement in the service (preload), print the costliest */
  sqlStats: boolean;
  /** diagnostic: `serve --no-engine` (API only; nothing is enforced, so ttp/cancel cannot pass) */
  noEngine: boolean;
  /** the service's sqliteSynchronous (default: the service's own default) */
  sqliteSynchronous?: 'FULL' | 'NORMAL';
  /** the service's --api-processes (default 1) */
  apiProcesses: number;
  /** list runs with the service's list cache on (answers repeat), off (every answer computed), or both (SQLite; PostgreSQL has none) */
  listCache: 'on' | 'off' | 'both';
  keep: boolean;
  out: string;
}

export const usage = `npm run bench -- [options]
  --scenarios a,b,…      ${allScenarios.join(',')} (default: all)
  --store sqlite|postgres  (default sqlite)
  --database-url URL     PostgreSQL server (default postgres://postgres@127.0.0.1:5432/test; a bench_<random> schema is created and dropped)
  --duration S           seconds per load run (default 10)
  --connections N        concurrent connections for load runs (default 64)
  --sizes A,B            stored actions for get/list (default 100000,1000000)
  --samples N            actions per time-to-protect / cancel measurement (default 200)
  --deep-pages N         nextLink pages followed before the deep-page run (default 1000)
  --quick                smoke run: 3 s loads, sizes 10000,50000, 20 samples, 50 deep pages (writes quick.json)
  --cpu-prof             run the service under node --cpu-prof and print its hottest functions
  --service-log-level L  the service's --log-level (default info, as deployed)
  --sqlite-synchronous FULL|NORMAL  set the service's sqliteSynchronous (default: the service default, FULL)
  --api-processes N      run the service with --api-processes N (default 1: one process)
  --list-cache on|off|both  list runs with the service's list cache on (answers repeat while nothing is written),
                         off (every answer computed, as after each write), or both, one after the other (default both; SQLite only)
  --nice=N               run the bench and all it starts at nice N (e.g. --nice=-10 on a shared machine; default: unchanged)
  --sql-stats            diagnostic: time every SQL statement inside the service, print the costliest
  --no-engine            diagnostic: run the service with --no-engine (API cost without enforcement)
  --keep                 keep temp dirs / the PostgreSQL schema for inspection
  --out FILE             results JSON (default bench/results/latest.json)`;

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenarios: { type: 'string' },
      store: { type: 'string', default: 'sqlite' },
      'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' },
      duration: { type: 'string' },
      connections: { type: 'string', default: '64' },
      sizes: { type: 'string' },
      samples: { type: 'string' },
      'deep-pages': { type: 'string' },
      quick: { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      'service-log-level': { type: 'string', default: 'info' },
      'sqlite-synchronous': { type: 'string' },
      'api-processes': { type: 'string', default: '1' },
      'list-cache': { type: 'string', default: 'both' },
      keep: { type: 'boolean', default: false },
      'no-engine': { type: 'boolean', default: false },
      'sql-stats': { type: 'boolean', default: false },
      nice: { type: 'string', default: '0' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const int = (name: string, v: string | undefined, fallback: number, min = 1) => {
    if (v === undefined) return fallback;
    const n = Number(v.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got '${v}'`);
    return n;
  };
  const scenarios = new Set<ScenarioName>();
  for (const s of (values.scenarios ?? allScenarios.join(',')).split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(allScenarios as readonly string[]).includes(s)) throw new Error(`unknown scenario '${s}'; known: ${allScenarios.join(', ')}`);
    scenarios.add(s as ScenarioName);
  }
  if (values.store !== 'sqlite' && values.store !== 'postgres') throw new Error(`--store must be sqlite or postgres, got '${values.store}'`);
  const sync = values['sqlite-synchronous']?.toUpperCase();
  if (sync !== undefined && sync !== 'FULL' && sync !== 'NORMAL') throw new Error(`--sqlite-synchronous must be FULL or NORMAL, got '${sync}'`);
  const listCache = values['list-cache'];
  if (listCache !== 'on' && listCache !== 'off' && listCache !== 'both') throw new Error(`--list-cache must be on, off or both, got '${listCache}'`);
  const sizes = (values.sizes ?? (quick ? '10000,50000' : '100000,1000000')).split(',').map((s) => int('sizes', s.trim(), 0));
  return {
    scenarios,
    store: values.store,
    databaseUrl: values['database-url']!,
    durationS: int('duration', values.duration, quick ? 3 : 10),
    connections: int('connections', values.connections, 64),
    sizes: [...sizes].sort((a, b) => a - b),
    samples: int('samples', values.samples, quick ? 20 : 200),
    deepPages: int('deep-pages', values['deep-pages'], quick ? 50 : 1000),
    quick,
    cpuProf: values['cpu-prof'] ?? false,
    serviceLogLevel: values['service-log-level']!,
    sqliteSynchronous: sync,
    apiProcesses: int('api-processes', values['api-processes'], 1),
    listCache,
    keep: values.keep ?? false,
    noEngine: values['no-engine'] ?? false,
    sqlStats: values['sql-stats'] ?? false,
    nice: (() => {
      const n = Number(values.nice);
      if (!Number.isInteger(n) || n < -20 || n > 19) throw new Error(`--nice must be -20..19, got '${values.nice}'`);
      return n;
    })(),
    out: values.out ?? (quick ? 'bench/results/quick.json' : 'bench/results/latest.json'),
  };
}
