import { spawn } from 'node:child_process';
import path from 'node:path';
import type { Delivery } from './webhook-receiver.js';

export type DeliveryRecord = Omit<Delivery, 'raw' | 'body'>;

export interface WebhookReceiverProcess {
  url: string;
  /** every request so far, in arrival order */
  deliveries(): Promise<DeliveryRecord[]>;
  /** Polls (bounded) until `check` over the deliveries is true. */
  waitUntil(check: (all: DeliveryRecord[]) => boolean, timeoutMs: number, what: string): Promise<DeliveryRecord[]>;
  close(): Promise<void>;
}

/**
 * The test webhook receiver (webhook-receiver.ts) in a process of its own. For tests whose own
 * process is also the load generator: a receiver sharing that busy event loop answers late, the
 * sender times out and retries — the test would measure itself instead of Bulwark.
 */
export function startWebhookReceiverProcess(options: { secret: string; latencyMs?: number }): Promise<WebhookReceiverProcess> {
  const main = path.join(import.meta.dirname, 'webhook-receiver-main.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', main, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`webhook receiver process did not start: ${err}`));
    }, 30_000);
    void exited.then(() => reject(new Error(`webhook receiver process exited: ${err}`)));
    const onData = (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      const { url, control } = JSON.parse(line) as { url: string; control: string };
      const deliveries = async () => (await (await fetch(control)).json()) as DeliveryRecord[];
      resolve({
        url,
        deliveries,
        async waitUntil(check, timeoutMs, what) {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const all = await deliveries();
            if (check(all)) return all;
            if (Date.now() > deadline) throw new Error(`webhook receiver: timed out waiting for ${what}; ${all.length} deliveries`);
            await new Promise((r) => setTimeout(r, 100));
          }
        },
        async close() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
      });
    };
    child.stdout.on('data', onData);
  });
}
