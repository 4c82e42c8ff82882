import client from 'prom-client';

/**
 * The service's Prometheus metrics, in one explicit registry (no global default registry, so tests
 * can run several services in one process). Labels never carry tenant ids or indicators.
 */
export class Metrics {
  readonly registry = new client.Registry();
  readonly httpRequests = new client.Counter({ name: 'bulwark_http_requests_total', help: 'HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'] as const, registers: [this.registry] });
  readonly httpDuration = new client.Histogram({
    name: 'bulwark_http_request_duration_seconds',
    help: 'HTTP request latency by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [this.registry],
  });
  readonly httpDeferred = new client.Counter({
    name: 'bulwark_http_requests_deferred_total',
    help: 'Requests that waited for a later event-loop turn because the process was busy (turn gate; a steady rise means the process is saturated)',
    registers: [this.registry],
  });
  readonly engineSteps = new client.Counter({ name: 'bulwark_engine_steps_total', help: 'Engine steps by provider, kind (apply|withdraw) and outcome', labelNames: ['provider', 'kind', 'outcome'] as const, registers: [this.registry] });
  readonly providerErrors = new client.Counter({ name: 'bulwark_provider_errors_total', help: 'Failed deliveries or steps by provider (retried or final)', labelNames: ['provider', 'final'] as const, registers: [this.registry] });
  readonly feedRequests = new client.Counter({ name: 'bulwark_feed_requests_total', help: 'Feed file requests by file and status', labelNames: ['file', 'status'] as const, registers: [this.registry] });
  readonly changeStreamClients = new client.Gauge({ name: 'bulwark_change_stream_clients', help: 'Change-stream requests currently open (long polls included)', registers: [this.registry] });
  /** What `/metrics` serves: this process's metrics, or in an API process of `serve --api-processes N` the sum over all processes (cluster/metrics-relay.ts). */
  render: () => Promise<string> = () => this.registry.metrics();

  constructor(
    options: { collectDefault?: boolean; gauges?: CollectedGauges; offloadedQueries?: () => number; abandonedQueries?: () => number; listCache?: ListCacheStats } = {},
  ) {
    if (options.collectDefault !== false) client.collectDefaultMetrics({ register: this.registry, prefix: 'bulwark_' });
    if (options.gauges) this.addCollectedGauges(options.gauges);
    if (options.offloadedQueries) {
      this.addCollectedCounter(
        'bulwark_sqlite_queries_offloaded_total',
        'SQLite list queries moved to the read worker after examining more rows than sqliteReads.scanBudgetRows (a $filter no index narrows)',
        options.offloadedQueries,
      );
    }
    if (options.abandonedQueries) {
      this.addCollectedCounter(
        'bulwark_queries_abandoned_total',
        'Lists and counts not run, or stopped, because their client closed the connection before the answer (SQLite read worker, PostgreSQL read pool)',
        options.abandonedQueries,
      );
    }
    const cache = options.listCache;
    if (cache) {
      this.addCollectedCounter('bulwark_list_cache_hits_total', 'List and $count answers served from the list cache (the tenant\'s actions unchanged since they were computed)', () => cache.hits);
      this.addCollectedCounter('bulwark_list_cache_count_hits_total', 'Counts ($count=true lists, /$count) taken from the list cache: the same filter counted at the tenant\'s current data', () => cache.countHits);
      this.addCollectedCounter('bulwark_list_cache_misses_total', 'List and $count answers computed because the list cache had none for the tenant\'s current data', () => cache.misses);
      new client.Gauge({
        name: 'bulwark_list_cache_bytes',
        help: 'Bytes of list and $count answers held by the list cache (bounded by listCache.megabytes)',
        registers: [this.registry],
        collect() {
          this.set(cache.size);
        },
      });
    }
  }

  /** A counter whose value is read from `read()` at each scrape. */
  private addCollectedCounter(name: string, help: string, read: () => number): void {
    new client.Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }

  private addCollectedGauges(g: CollectedGauges): void {
    const registry = this.registry;
    new client.Gauge({
      name: 'bulwark_actions',
      help: 'Stored actions by status (all tenants)',
      labelNames: ['status'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const [status, n] of Object.entries(await g.actionsByStatus())) this.set({ status }, n);
      },
    });
    new client.Gauge({
      name: 'bulwark_engine_backlog',
      help: 'Engine jobs: due (waiting for a worker), leased (in progress), expired_leases (held by a worker that stopped)',
      labelNames: ['state'] as const,
      registers: [registry],
      async collect() {
        const b = await g.backlog();
        this.set({ state: 'due' }, b.due);
        this.set({ state: 'leased' }, b.leased);
        this.set({ state: 'expired_leases' }, b.expiredLeases);
      },
    });
  }
}

export interface CollectedGauges {
  actionsByStatus(): Promise<Record<string, number>>;
  backlog(): Promise<{ due: number; leased: number; expiredLeases: number }>;
}

/** What the list cache's metrics read (http/response-cache.ts). */
export interface ListCacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly countHits: number;
  readonly size: number;
}
