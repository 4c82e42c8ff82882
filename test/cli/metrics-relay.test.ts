import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createMetricsAggregator, metricsFromPrimary, type Peer } from '../../src/cluster/metrics-relay.js';
import { isBulwarkError } from '../../src/domain/errors.js';
import { Metrics } from '../../src/metrics/metrics.js';

/**
 * The message protocol of cluster/metrics-relay.ts between real Metrics registries, with the IPC
 * channel replaced by in-process emitters (the real channel is covered end to end in
 * api-processes.test.ts; these cover what a live cluster cannot be made to do on demand: an API
 * process that never answers, a primary that never answers).
 */
function channel() {
  const toPrimary = new EventEmitter();
  const toApi = new EventEmitter();
  const apiPeer: Peer = { send: (m) => void setImmediate(() => toApi.emit('m', m)) };
  const primaryPeer: Peer = { send: (m) => void setImmediate(() => toPrimary.emit('m', m)) };
  const onApiMessage = (listener: (m: unknown) => void) => {
    toApi.on('m', listener);
    return () => void toApi.off('m', listener);
  };
  return { toPrimary, apiPeer, primaryPeer, onApiMessage };
}

const line = (text: string, prefix: string) => text.split('\n').find((l) => l.startsWith(prefix));

describe('metrics relay (serve --api-processes N)', () => {
  it('sums the primary and the API processes that answer; one that does not is counted missing, not passed off as zero', async () => {
    const primary = new Metrics({ collectDefault: false });
    primary.engineSteps.inc({ provider: 'feeds', kind: 'apply', outcome: 'done' }, 7);
    const answering = new Metrics({ collectDefault: false });
    const silent = new Metrics({ collectDefault: false });
    answering.httpRequests.inc({ route: '/healthz', method: 'GET', status: '200' }, 5);
    silent.httpRequests.inc({ route: '/healthz', method: 'GET', status: '200' }, 11);

    const a = channel();
    const deadPeer: Peer = { send: () => undefined };
    const aggregator = createMetricsAggregator(primary, () => [a.apiPeer, deadPeer], 150);
    a.toPrimary.on('m', (m) => aggregator.handle(m, a.apiPeer));
    answering.render = metricsFromPrimary(answering, a.primaryPeer.send, a.onApiMessage);

    const text = await answering.render();
    expect(line(text, 'bulwark_http_requests_total{')).toBe('bulwark_http_requests_total{route="/healthz",method="GET",status="200"} 5');
    expect(line(text, 'bulwark_engine_steps_total{')).toBe('bulwark_engine_steps_total{provider="feeds",kind="apply",outcome="done"} 7');
    expect(line(text, 'bulwark_metrics_processes{state="answered"}')).toBe('bulwark_metrics_processes{state="answered"} 2');
    expect(line(text, 'bulwark_metrics_processes{state="missing"}')).toBe('bulwark_metrics_processes{state="missing"} 1');
  });

  it('counters from several API processes add up', async () => {
    const primary = new Metrics({ collectDefault: false });
    const channels = [channel(), channel()];
    const aggregator = createMetricsAggregator(primary, () => channels.map((c) => c.apiPeer), 1_000);
    const apis = channels.map((c, i) => {
      c.toPrimary.on('m', (m) => aggregator.handle(m, c.apiPeer));
      const own = new Metrics({ collectDefault: false });
      own.httpRequests.inc({ route: '/healthz', method: 'GET', status: '200' }, i + 2);
      own.render = metricsFromPrimary(own, c.primaryPeer.send, c.onApiMessage);
      return own;
    });
    for (const api of apis) expect(line(await api.render(), 'bulwark_http_requests_total{')).toBe('bulwark_http_requests_total{route="/healthz",method="GET",status="200"} 5');
  });

  it('an API process that cannot read its registry is counted missing at once, not after the timeout', async () => {
    const primary = new Metrics({ collectDefault: false });
    const a = channel();
    const failing: Peer = {
      send: (m) => {
        const id = (m as { bulwarkMetricsSnapshot: { id: number } }).bulwarkMetricsSnapshot.id;
        setImmediate(() => a.toPrimary.emit('m', { bulwarkMetricsJson: { id, metrics: null } }));
      },
    };
    const aggregator = createMetricsAggregator(primary, () => [a.apiPeer, failing], 60_000);
    a.toPrimary.on('m', (m) => aggregator.handle(m, a.apiPeer));
    const own = new Metrics({ collectDefault: false });
    own.render = metricsFromPrimary(own, a.primaryPeer.send, a.onApiMessage);
    const text = await own.render();
    expect(line(text, 'bulwark_metrics_processes{state="missing"}')).toBe('bulwark_metrics_processes{state="missing"} 1');
  });

  it('a primary that cannot read its own metrics (database down) makes the scrape 503, without the database error in the answer', async () => {
    const down = () => Promise.reject(new Error('connect ECONNREFUSED 10.9.8.7:5432'));
    const primary = new Metrics({ collectDefault: false, gauges: { actionsByStatus: down, backlog: down } });
    const a = channel();
    const aggregator = createMetricsAggregator(primary, () => [a.apiPeer], 1_000);
    a.toPrimary.on('m', (m) => aggregator.handle(m, a.apiPeer));
    const own = new Metrics({ collectDefault: false });
    own.render = metricsFromPrimary(own, a.primaryPeer.send, a.onApiMessage);
    const failure = await own.render().then(() => undefined, (e: unknown) => e);
    expect(isBulwarkError(failure) && failure.kind).toBe('serviceUnavailable');
    expect((failure as Error).message).not.toContain('10.9.8.7');
  });

  it('an API process whose primary does not answer fails the scrape with 503 instead of serving its own share', async () => {
    const own = new Metrics({ collectDefault: false });
    const render = metricsFromPrimary(own, () => undefined, () => () => undefined, 100);
    const failure = await render().then(() => undefined, (e: unknown) => e);
    expect(isBulwarkError(failure) && failure.kind).toBe('serviceUnavailable');
  });
});
