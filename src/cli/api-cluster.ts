import cluster, { type Worker } from 'node:cluster';
import type { Config } from '../config/schema.js';
import { createLogger, startService, type RunningService } from '../main.js';
import { createApiProcessNotifier, createPrimaryNotifier } from '../cluster/relay-notifier.js';
import { answerCall, forwardedWrites, isCallMessage } from '../cluster/write-calls.js';
import { createMetricsAggregator, metricsFromPrimary, type Peer } from '../cluster/metrics-relay.js';

/**
 * `serve --api-processes N`: N API processes share the listen port (node:cluster hands each new
 * connection to the next process), and the primary runs the engine. One Node process tops out at
 * one core; this spreads HTTP, token checks and JSON over the machine's cores. On SQLite the
 * API processes read the database file themselves (WAL readers) but hand their writes to the
 * primary, its one writer, and wake-ups travel over IPC through the primary; on PostgreSQL each
 * process reads and writes itself and wakes the others by LISTEN/NOTIFY, as separate nodes do.
 * docs/decisions/0014-api-processes.md.
 */
export async function serveCluster(config: Readonly<Config>, engine: boolean): Promise<{ url: string; close: () => Promise<void>; logger: RunningService['logger']; describe: string }> {
  return cluster.isPrimary ? runPrimary(config, engine) : runWorker(config);
}

interface ReadyMessage {
  bulwarkReady: { url: string };
}
const isReady = (m: unknown): m is ReadyMessage => typeof (m as Partial<ReadyMessage> | null)?.bulwarkReady?.url === 'string';

const peerOf = (w: Worker): Peer => ({
  send: (m) => {
    if (w.isConnected()) w.send(m, undefined, () => undefined);
  },
});

async function runPrimary(config: Readonly<Config>, engine: boolean) {
  const logger = createLogger(config.logLevel);
  const peers = new Map<Worker, Peer>();
  const notifier = createPrimaryNotifier(() => peers.values());
  const service = await startService({ config, api: false, engine, logger, sqliteNotifier: notifier });
  const metrics = createMetricsAggregator(service.metrics, () => peers.values());
  let stopping = false;
  let restarts = 0;

  const fork = (): Promise<string> => {
    const worker = cluster.fork();
    const peer = peerOf(worker);
    peers.set(worker, peer);
    return new Promise((resolve, reject) => {
      worker.on('message', (m: unknown) => {
        if (metrics.handle(m, peer)) return;
        if (isCallMessage(m) && !config.databaseUrl) void answerCall(service.writeStores, m, (r) => peer.send(r));
        else if (isReady(m)) resolve(m.bulwarkReady.url);
      });
      worker.once('exit', (code, signal) => {
        peers.delete(worker);
        reject(new Error(`API process ${worker.process.pid} exited (${signal ?? code}) before it was ready`));
        if (stopping) return;
        // Keep the configured number of API processes; back off if one keeps dying.
        const delay = Math.min(30_000, 500 * 2 ** Math.min(restarts++, 6));
        logger.error({ pid: worker.process.pid, code, signal, restartInMs: delay }, 'API process exited; starting another');
        setTimeout(() => {
          if (!stopping) fork().then(() => (restarts = 0), (e: Error) => logger.error({ err: e.message }, 'API process failed to start'));
        }, delay).unref();
      });
    });
  };

  const close = async () => {
    stopping = true;
    await Promise.all([...peers.keys()].map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) return resolve();
      w.once('exit', () => resolve());
      w.process.kill('SIGTERM');
      setTimeout(() => w.process.kill('SIGKILL'), 25_000).unref();
    })));
    await service.close();
  };

  try {
    const urls = await Promise.all(Array.from({ length: config.apiProcesses }, fork));
    return { url: urls[0]!, close, logger, describe: service.database.describe };
  } catch (e) {
    await close();
    throw e;
  }
}

async function runWorker(config: Readonly<Config>) {
  const primary: Peer = {
    send: (m) => {
      if (process.connected) process.send!(m, undefined, undefined, () => undefined);
    },
  };
  const onMessage = (listener: (m: unknown) => void) => {
    process.on('message', listener);
    return () => void process.off('message', listener);
  };
  const notifier = createApiProcessNotifier(onMessage);
  const writes = config.databaseUrl ? undefined : forwardedWrites((m) => primary.send(m), onMessage);
  const service = await startService({ config, api: true, engine: false, sqliteNotifier: notifier, writes, metricsFromPrimary: (own) => metricsFromPrimary(own, primary.send, onMessage) });
  // The primary is gone (killed): nobody relays wake-ups, writes or restarts us; stop serving.
  process.once('disconnect', () => {
    writes?.failAll('the primary process is gone');
    void service.close().finally(() => process.exit(1));
  });
  process.send!({ bulwarkReady: { url: service.url } } satisfies ReadyMessage);
  return { url: service.url, close: service.close, logger: service.logger, describe: service.database.describe };
}
