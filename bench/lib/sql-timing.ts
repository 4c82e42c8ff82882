/**
 * Diagnostic preload for the service process (`node --import <this> bin/bulwark.js serve`, set by
 * `npm run bench -- --sql-stats`): times every better-sqlite3 statement and every pg query by SQL
 * text and writes the totals to $BULWARK_BENCH_SQL_STATS when the process exits. Nothing in src/
 * changes; the wrappers only add a clock read around each call.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const out = process.env['BULWARK_BENCH_SQL_STATS'];
const stats = new Map<string, { calls: number; ms: number }>();
const add = (sql: string, ms: number) => {
  // Long column lists say little; keep what distinguishes statements (tables, predicates, limits).
  const key = sql.replace(/\s+/g, ' ').trim().replace(/^select (?:"[a-z_]+", ){4,}"[a-z_]+" from/i, 'select <columns> from').slice(0, 400);
  const s = stats.get(key) ?? { calls: 0, ms: 0 };
  s.calls++;
  s.ms += ms;
  stats.set(key, s);
};

// Resolve the packages the service itself uses (from the repository, not from dist/bench).
const require = createRequire(path.join(process.cwd(), 'package.json'));

try {
  const Database = require('better-sqlite3') as new (file: string) => { prepare(sql: string): object; close(): void };
  const probe = new Database(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...a: unknown[]) => unknown>;
  probe.close();
  for (const method of ['run', 'get', 'all'] as const) {
    const original = proto[method]!;
    proto[method] = function (this: { source: string }, ...args: unknown[]) {
      const t0 = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        add(this.source, performance.now() - t0);
      }
    };
  }
} catch {
  /* no better-sqlite3 */
}

try {
  const pg = require('pg') as { Client: { prototype: Record<string, (...a: unknown[]) => unknown> } };
  const original = pg.Client.prototype['query']!;
  pg.Client.prototype['query'] = function (this: unknown, ...args: unknown[]) {
    const first = args[0] as string | { text?: string } | undefined;
    const sql = typeof first === 'string' ? first : first?.text;
    const result = original.apply(this, args);
    if (sql && result && typeof (result as Promise<unknown>).then === 'function') {
      const t0 = performance.now();
      (result as Promise<unknown>).then(
        () => add(sql, performance.now() - t0),
        () => add(sql, performance.now() - t0),
      );
    }
    return result;
  };
} catch {
  /* no pg */
}

if (out) {
  process.on('exit', () => {
    const rows = [...stats.entries()].map(([sql, s]) => ({ sql, calls: s.calls, totalMs: Math.round(s.ms), avgMs: Math.round((s.ms / s.calls) * 1000) / 1000 }));
    rows.sort((a, b) => b.totalMs - a.totalMs);
    fs.writeFileSync(out, JSON.stringify(rows, null, 1));
  });
}
