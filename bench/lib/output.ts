import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from './context.js';
import { describeMachine, type MachineInfo } from './machine.js';
import type { reportProfiles } from './profile.js';
import { markdownTable, textTable, type Row } from './report.js';
import { repoRoot } from './service.js';

export function finish(ctx: BenchContext, machine: MachineInfo, seconds: number, profiles: ReturnType<typeof reportProfiles> | undefined): void {
  const rows: Row[] = ctx.rows;
  const title = `Bulwark bench — ${ctx.options.store}, ${ctx.options.connections} connections, ${ctx.options.durationS} s per load run${ctx.options.nice ? `, nice ${ctx.options.nice}` : ''}${ctx.options.sqliteSynchronous ? `, sqliteSynchronous ${ctx.options.sqliteSynchronous}` : ''}${ctx.options.noEngine ? ', --no-engine' : ''}${ctx.options.apiProcesses > 1 ? `, --api-processes ${ctx.options.apiProcesses}` : ''} — ${seconds.toFixed(0)} s total`;
  const scope = ctx.options.store === 'sqlite' ? '' : 'targets: issue 5 sets them for the default store (SQLite); on PostgreSQL only create ≥ 3,000/s (and 0 errors) is judged, the rest is reported\n';
  process.stdout.write(`\n${title}\nmachine: ${describeMachine(machine)}\n${scope}\n${textTable(rows)}\n`);
  for (const h of ctx.service.history.filter((x) => x.sqlStats && fs.existsSync(x.sqlStats))) {
    const top = (JSON.parse(fs.readFileSync(h.sqlStats!, 'utf8')) as { sql: string; calls: number; totalMs: number; avgMs: number }[]).slice(0, 12);
    process.stdout.write(`\nSQL time inside the service (${h.what.join(', ') || 'start-up'}), costliest statements:\n`);
    for (const t of top) process.stdout.write(`  ${String(t.totalMs).padStart(7)} ms  ${String(t.calls).padStart(7)} calls  ${t.avgMs.toFixed(3).padStart(8)} ms/call  ${t.sql.slice(0, 200)}\n`);
    ((ctx.details['sqlStats'] ??= []) as unknown[]).push({ phases: h.what, top });
  }
  for (const p of profiles ?? []) {
    process.stdout.write(`\nCPU profile of the service (${p.phases.join(', ') || 'start-up'}): ${p.file}\n`);
    for (const h of p.hotspots) process.stdout.write(`  ${h.selfPercent.toFixed(1).padStart(5)}%  ${h.fn}  ${h.where}\n`);
  }
  const out = path.resolve(repoRoot, ctx.options.out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const options = { ...ctx.options, scenarios: [...ctx.options.scenarios] };
  fs.writeFileSync(out, `${JSON.stringify({ title, machine, store: ctx.store.kind, options, seconds, rows, details: ctx.details, profiles }, null, 2)}\n`);
  fs.writeFileSync(out.replace(/\.json$/, '.md'), `${title}\n\nMachine: ${describeMachine(machine)}\n${scope ? `\n${scope}` : ''}\n${markdownTable(rows)}\n`);
  process.stdout.write(`\nwrote ${path.relative(repoRoot, out)} (and .md)\n`);
}

