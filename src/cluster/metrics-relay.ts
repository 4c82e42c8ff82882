import client from 'prom-client';
import { errors } from '../domain/errors.js';
import type { Metrics } from '../metrics/metrics.js';

/**
 * One `/metrics` for all the processes of `serve --api-processes N`. A scrape lands on whichever
 * API process the cluster hands the connection to; that process asks the primary, which gathers
 * every process's metrics (its own hold the engine's counters) and adds them up with prom-client's
 * per-metric aggregators (counters and histograms summed, event-loop lag averaged, versions taken
 * once). A process that does not answer within the timeout is left out and counted in
 * `bulwark_metrics_processes{state="missing"}`, so a partial sum never passes for a whole one.
 */

/** API process → primary: "render the sum for my scraper". */
interface RenderRequest {
  bulwarkMetricsRender: { id: number };
}
/** primary → API process: the rendered text, or why there is none. */
interface RenderReply {
  bulwarkMetricsText: { id: number; text?: string; error?: string };
}
/** primary → API process: "send me your metrics". */
interface SnapshotRequest {
  bulwarkMetricsSnapshot: { id: number };
}
/** API process → primary: its metrics as prom-client JSON (null: it could not read them). */
interface SnapshotReply {
  bulwarkMetricsJson: { id: number; metrics: unknown[] | null };
}

export interface Peer {
  send(message: object): void;
}

type MetricsJson = Awaited<ReturnType<client.Registry['getMetricsAsJSON']>>;

const idOf = <K extends string>(m: unknown, key: K): number | undefined => {
  const body = (m as Record<K, { id?: unknown } | undefined> | null)?.[key];
  return typeof body?.id === 'number' ? body.id : undefined;
};

/** Waits for answers keyed by id; an unanswered wait settles with `undefined` after `timeoutMs`. */
function pendingAnswers<T>(timeoutMs: number) {
  let next = 0;
  const waiting = new Map<number, (v: T | undefined) => void>();
  return {
    ask(send: (id: number) => void): Promise<T | undefined> {
      const id = ++next;
      return new Promise((resolve) => {
        const timer = setTimeout(() => settle(id, undefined), timeoutMs);
        timer.unref();
        waiting.set(id, (v) => {
          clearTimeout(timer);
          resolve(v);
        });
        send(id);
      });
    },
    answer: settle,
  };
  function settle(id: number, value: T | undefined) {
    const resolve = waiting.get(id);
    waiting.delete(id);
    resolve?.(value);
  }
}

/**
 * Primary side. `handle` takes each message an API process sends and returns true when it was a
 * metrics message (answered here).
 */
export function createMetricsAggregator(own: Metrics, apiProcesses: () => Iterable<Peer>, timeoutMs = 5_000) {
  const snapshots = pendingAnswers<MetricsJson>(timeoutMs);

  async function render(): Promise<string> {
    const answers = await Promise.all([...apiProcesses()].map((p) => snapshots.ask((id) => p.send({ bulwarkMetricsSnapshot: { id } } satisfies SnapshotRequest))));
    const answered = answers.filter((a): a is MetricsJson => a !== undefined);
    const sum = client.AggregatorRegistry.aggregate([await own.registry.getMetricsAsJSON(), ...answered]);
    const processes = new client.Gauge({ name: 'bulwark_metrics_processes', help: 'Processes whose metrics this scrape adds up: answered (primary included) or missing (timed out)', labelNames: ['state'] as const, registers: [sum] });
    processes.set({ state: 'answered' }, answered.length + 1);
    processes.set({ state: 'missing' }, answers.length - answered.length);
    return sum.metrics();
  }

  return {
    handle(m: unknown, from: Peer): boolean {
      const renderId = idOf(m, 'bulwarkMetricsRender');
      if (renderId !== undefined) {
        // The reason stays generic: /metrics is unauthenticated, and a database error names hosts.
        render().then(
          (text) => from.send({ bulwarkMetricsText: { id: renderId, text } } satisfies RenderReply),
          () => from.send({ bulwarkMetricsText: { id: renderId, error: 'the primary could not read its own metrics' } } satisfies RenderReply),
        );
        return true;
      }
      const snapshotId = idOf(m, 'bulwarkMetricsJson');
      if (snapshotId === undefined) return false;
      // An API process that could not read its registry sends no array: counted missing at once.
      const metrics = (m as SnapshotReply).bulwarkMetricsJson.metrics;
      snapshots.answer(snapshotId, Array.isArray(metrics) ? (metrics as MetricsJson) : undefined);
      return true;
    },
  };
}

/**
 * API-process side: answers the primary's snapshot requests with `own` and returns the renderer
 * its `/metrics` uses. When the primary does not answer, the scrape fails with 503 rather than
 * passing one process's numbers off as the service's.
 */
export function metricsFromPrimary(own: Metrics, send: (m: object) => void, onMessage: (listener: (m: unknown) => void) => () => void, timeoutMs = 10_000): () => Promise<string> {
  const texts = pendingAnswers<{ text?: string; error?: string }>(timeoutMs);
  onMessage((m) => {
    const snapshotId = idOf(m, 'bulwarkMetricsSnapshot');
    if (snapshotId !== undefined) {
      own.registry.getMetricsAsJSON().then(
        (metrics) => send({ bulwarkMetricsJson: { id: snapshotId, metrics } } satisfies SnapshotReply),
        () => send({ bulwarkMetricsJson: { id: snapshotId, metrics: null } } satisfies SnapshotReply),
      );
      return;
    }
    const textId = idOf(m, 'bulwarkMetricsText');
    if (textId !== undefined) texts.answer(textId, (m as RenderReply).bulwarkMetricsText);
  });
  return async () => {
    const r = await texts.ask((id) => send({ bulwarkMetricsRender: { id } } satisfies RenderRequest));
    if (typeof r?.text === 'string') return r.text;
    throw errors.serviceUnavailable(r ? `The metrics of the service's processes could not be gathered: ${r.error ?? 'no answer'}.` : 'The primary process did not answer for the metrics of the service\'s processes in time.');
  };
}
