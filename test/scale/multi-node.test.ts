import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { postgresBackend } from '../helpers/backends.js';
import { runBulwark, startBulwark, type BulwarkProcess } from '../helpers/process.js';
import { startWebhookReceiverProcess, type WebhookReceiverProcess } from '../helpers/webhook-receiver-process.js';

/**
 * Issue 4 §5: two API nodes (`serve --no-engine`) and two workers on one PostgreSQL, real processes,
 * 2,000 actions posted concurrently through both API nodes to a webhook provider.
 */
const actions = 2000;
const leaseMs = 3000;
const secret = 'multi-node-webhook-secret-0123456789';

interface Cluster {
  api: BulwarkProcess[];
  workers: BulwarkProcess[];
  receiver: WebhookReceiverProcess;
  token: string;
  cleanup(): Promise<void>;
}

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.cleanup();
  cluster = undefined;
});

async function startCluster(receiverLatencyMs: number): Promise<Cluster> {
  const storage = await postgresBackend.fresh();
  // In its own process: this one is the load generator, and a receiver on its busy event loop would
  // answer late enough for deliveries to time out.
  const receiver = await startWebhookReceiverProcess({ secret, latencyMs: receiverLatencyMs });
  const configFile = path.join(storage.dataDir, 'bulwark.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      providers: [{ type: 'webhook', provider: 'soar', endpoint: receiver.url, secret, timeoutMs: 5000 }],
      defaultProvider: 'soar',
      engine: { leaseMs, pollIntervalMs: 500, backoffBaseMs: 50, backoffMaxMs: 500, concurrency: 16 },
      logLevel: 'warn',
    }),
  );
  // Every node is configured with the same public URL: it is the token issuer they all verify.
  const publicUrl = 'http://bulwark.test';
  const db = ['--config', configFile, '--database-url', storage.databaseUrl!, '--database-schema', storage.databaseSchema!, '--public-url', publicUrl];
  const processes: BulwarkProcess[] = [];
  const cleanup = async () => {
    await Promise.all(processes.map((p) => p.kill9()));
    await receiver.close();
    await storage.cleanup();
  };
  try {
    // All four start at once on an empty schema: migrations must serialise themselves.
    const started = await Promise.all([
      startBulwark({ args: [...db, '--no-engine'] }),
      startBulwark({ args: [...db, '--no-engine'] }),
      startBulwark({ command: 'worker', args: db }),
      startBulwark({ command: 'worker', args: db }),
    ]);
    processes.push(...started);
    const token = runBulwark(['token', ...db, '--tenant', 'multi-node', '--role', 'SecurityActions.ReadWrite.All']).trim();
    return { api: started.slice(0, 2), workers: started.slice(2), receiver, token, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

async function postAll(c: Cluster): Promise<string[]> {
  const ids: string[] = new Array(actions);
  let next = 0;
  const post = async () => {
    for (let i = next++; i < actions; i = next++) {
      const node = c.api[i % 2]!;
      const res = await fetch(`${node.url}/beta/security/securityActions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'BlockIp', parameters: [{ name: 'IP', value: `198.18.${i >> 8}.${i & 255}` }] }),
      });
      expect(res.status).toBe(201);
      ids[i] = ((await res.json()) as { id: string }).id;
    }
  };
  await Promise.all(Array.from({ length: 64 }, post));
  return ids;
}

async function get(node: BulwarkProcess, token: string, pathAndQuery: string): Promise<any> {
  const res = await fetch(`${node.url}${pathAndQuery}`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return res.headers.get('content-type')?.startsWith('text/plain') ? Number(await res.text()) : res.json();
}

async function waitAllCompleted(c: Cluster, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = await get(c.api[1]!, c.token, `/beta/security/securityActions/$count?$filter=${encodeURIComponent("status eq 'Completed'")}`);
    if (done === actions) return;
    if (Date.now() > deadline) throw new Error(`only ${done} of ${actions} actions Completed after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every id, read from one node by following @odata.nextLink to the end. */
async function allIds(node: BulwarkProcess, token: string): Promise<string[]> {
  const out: string[] = [];
  let link: string | undefined = `/beta/security/securityActions?$top=1000&$select=id`;
  while (link) {
    const page: any = await get(node, token, link);
    out.push(...page.value.map((a: { id: string }) => a.id));
    link = page['@odata.nextLink']?.replace('http://bulwark.test', '');
  }
  return out;
}

/** For a failure message: each redelivered key's deliveries (attempt, ms after the first) and the workers' warnings. */
function redeliveryReport(c: Cluster, blocks: { key: string; attempt: number; at: number }[]): string {
  const byKey = new Map<string, { attempt: number; at: number }[]>();
  for (const d of blocks) byKey.set(d.key, [...(byKey.get(d.key) ?? []), d]);
  const repeated = [...byKey].filter(([, ds]) => ds.length > 1).slice(0, 10);
  const lines = repeated.map(([key, ds]) => `${key}: ${ds.map((d) => `attempt ${d.attempt} at ${new Date(d.at).toISOString()}`).join(', ')}`);
  const warnings = c.workers.flatMap((w, i) => w.output().split('\n').filter((l) => /"level":(40|50)/.test(l)).slice(0, 10).map((l) => `worker ${i}: ${l.slice(0, 300)}`));
  return `redelivered:\n${lines.join('\n')}\nworker warnings:\n${warnings.join('\n')}`;
}

describe('two API nodes and two workers on one PostgreSQL (real processes)', () => {
  it('completes 2,000 concurrent actions, each block delivered exactly once, visible from both nodes', async () => {
    cluster = await startCluster(0);
    const ids = await postAll(cluster);
    await waitAllCompleted(cluster, 90_000);

    const blocks = (await cluster.receiver.deliveries()).filter((d) => d.event === 'block' && d.signatureValid);
    const keys = new Set(blocks.map((d) => d.key));
    expect(keys).toEqual(new Set(ids.map((id) => `${id}:block`)));
    // exactly once: no redelivery without a failure
    expect(blocks.length, redeliveryReport(cluster, blocks)).toBe(actions);
    for (const node of cluster.api) {
      const seen = await allIds(node, cluster.token);
      expect(seen).toHaveLength(actions);
      expect(new Set(seen)).toEqual(new Set(ids));
    }
  }, 180_000);

  it('kill -9 of one worker halfway: the other finishes everything, nothing Running longer than one lease', async () => {
    cluster = await startCluster(25);
    const posting = postAll(cluster);
    await cluster.receiver.waitUntil((all) => all.filter((d) => d.event === 'block').length >= actions / 2, 90_000, 'half the blocks delivered');
    const killedAt = Date.now();
    await cluster.workers[0]!.kill9();
    const ids = await posting;
    await waitAllCompleted(cluster, 120_000);

    const blocks = (await cluster.receiver.deliveries()).filter((d) => d.event === 'block' && d.signatureValid);
    const keys = new Set(blocks.map((d) => d.key));
    expect(keys).toEqual(new Set(ids.map((id) => `${id}:block`)));
    // Redeliveries happen only for what the killed worker had in flight, always with the same key.
    const redelivered = blocks.length - keys.size;
    expect(redelivered).toBeLessThanOrEqual(16);

    // No action stayed Running longer than one lease (plus scheduling slack) after the worker
    // died: for one dispatched before the kill the clock starts at the kill, since the time it
    // spent being delivered by the live worker is no part of what the kill cost.
    let longest = 0;
    for (let i = 0; i < ids.length; i += 50) {
      const page: any = await get(cluster.api[i % 2]!, cluster.token, `/beta/security/securityActions?$top=50&$skip=${i}&$select=id,states`);
      for (const a of page.value) {
        const states = a.states as { status: string; updatedDateTime: string }[];
        const running = states.find((s) => s.status === 'Running');
        const completed = states.find((s) => s.status === 'Completed');
        if (running && completed) longest = Math.max(longest, Date.parse(completed.updatedDateTime) - Math.max(Date.parse(running.updatedDateTime), killedAt));
      }
    }
    expect(longest).toBeLessThanOrEqual(leaseMs + 2000);
  }, 240_000);
});
