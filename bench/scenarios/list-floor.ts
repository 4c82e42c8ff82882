import { spawn } from 'node:child_process';
import { authHeaders, type BenchContext } from '../lib/context.js';
import { trackChild } from '../lib/cleanup.js';
import { request } from '../lib/http.js';
import { runTimed } from '../lib/load.js';
import { waitIdle } from '../lib/proc.js';
import { loadFigures, type Row } from '../lib/report.js';
import { log } from '../lib/util.js';

/**
 * Serves the bytes it reads on stdin to every request, with the service's content type; prints
 * its port. No routing, no auth, no database: what a page costs the machine to carry at all.
 */
const bareServer = `
const http = require('node:http');
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c)).on('end', () => {
  const body = Buffer.concat(chunks);
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
});
`;

/**
 * The floor under the list rows: the largest of the pages the list rows measured (`paths`), as
 * bytes, from a bare node:http server in its own process, driven by the same load generator at the
 * same connections. Whatever p99 this reaches, no list implementation can beat on this machine:
 * the load generator and the loopback alone take it (decision 0010, "Not done"). No target is
 * judged here.
 */
export async function runListFloor(ctx: BenchContext, paths: string[]): Promise<Row[]> {
  let body = Buffer.alloc(0);
  for (const path of paths) {
    const page = await request('GET', `${ctx.service.url}${path}`, { headers: authHeaders(ctx) });
    if (page.status !== 200) throw new Error(`list floor: ${path} answered ${page.status}`);
    const bytes = Buffer.from(page.body, 'utf8');
    if (bytes.length > body.length) body = bytes;
  }
  const child = spawn(process.execPath, ['-e', bareServer], { stdio: ['pipe', 'pipe', 'inherit'] });
  trackChild(child);
  try {
    child.stdin.end(body);
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (line: Buffer) => resolve(Number(line.toString().trim())));
      child.once('exit', (code) => reject(new Error(`list floor: the bare server exited (code ${code}) before listening`)));
    });
    const url = `http://127.0.0.1:${port}`;
    const rows: Row[] = [];
    for (const connections of [...new Set([ctx.options.connections, 1])]) {
      await waitIdle(ctx.service.pid);
      const durationS = connections === 1 ? Math.max(2, Math.ceil(ctx.options.durationS / 2)) : ctx.options.durationS;
      log(`list floor: the largest list page (${body.length.toLocaleString('en-US')} bytes) from a bare server, ${connections} connection(s), ${durationS} s`);
      const r = await runTimed({ url, path: '/', headers: {}, connections, durationS, serverPid: child.pid! });
      rows.push({
        scenario: 'list floor',
        detail: `the largest list page (${Math.round(body.length / 1000)} KB) from a bare node:http server (no Bulwark)`,
        ...loadFigures(r),
        targets: [],
        note: 'no service work at all: the least p99 any list can reach here at these connections (load generator + loopback)',
      });
    }
    return rows;
  } finally {
    child.kill('SIGKILL');
  }
}
