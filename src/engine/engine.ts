import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Notifier } from '../storage/ports.js';
import type { EngineStore, Job, JobDisposition, JobTransaction } from '../storage/ports.js';
import { isPushProvider, type ProviderDescriptor } from '../providers/provider.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { backoffDelay } from './backoff.js';
import type { EngineSettings } from './engine-settings.js';
import { applyByLedger, pushPhaseOne, pushPhaseTwo, withdrawByLedger, type DeliveryResult } from './steps.js';
import { ExpiryScheduler } from './expiry-scheduler.js';

export interface EngineDeps {
  store: EngineStore;
  providers: ProviderRegistry;
  notifier: Notifier;
  logger: Logger;
  settings: EngineSettings;
  now?: () => number;
  /** lease owner id; unique per process */
  owner?: string;
  /** pull-provider batches run side by side once work is backed up (PostgreSQL: 4, SQLite: 1) */
  parallelBatches?: number;
  metrics?: EngineMetrics;
}

/** What the engine reports; implemented over Prometheus by the composition root. */
export interface EngineMetrics {
  step(provider: string, kind: string, outcome: 'done' | 'retry' | 'failed' | 'lost' | 'error'): void;
  providerError(provider: string, final: boolean): void;
}

/**
 * The action engine: claims due jobs with a lease, runs each step (apply or withdraw) against its
 * provider, and records every transition in the action's states. Woken by the store's notifier
 * (in-process on SQLite, LISTEN/NOTIFY on PostgreSQL) and by a poll timer as a safety net.
 */
/** Pull-provider steps per transaction. */
const batchSize = 64;

export class Engine {
  readonly owner: string;
  private readonly now: () => number;
  private readonly inFlight = new Set<Promise<void>>();
  /** ids of the jobs `inFlight` is working on */
  private readonly inFlightJobs = new Set<number>();
  /** one timer per retry this engine scheduled, to claim it when due rather than at the next poll */
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private pendingWake = false;
  private unsubscribe?: () => void;
  private readonly expiry: ExpiryScheduler;
  /** pull providers: their steps are pure database work, run in batches without leases */
  private readonly batchProviders: string[];
  /** after a failed batch, every job goes through the leased path (which counts attempts) for a while */
  private leasedOnlyUntil = 0;
  /** with no push provider configured, the leased path only catches strays (unknown providers): poll it */
  private readonly hasPushProviders: boolean;
  private nextLeasedClaim = 0;
  private heartbeat?: NodeJS.Timeout;

  constructor(private readonly deps: EngineDeps) {
    this.now = deps.now ?? Date.now;
    this.owner = deps.owner ?? `engine-${process.pid}-${randomUUID().slice(0, 8)}`;
    this.batchProviders = deps.providers.all().filter((p) => !isPushProvider(p)).map((p) => p.name);
    this.hasPushProviders = deps.providers.all().some((p) => isPushProvider(p));
    this.expiry = new ExpiryScheduler({ store: deps.store, notifier: deps.notifier, logger: deps.logger, pollIntervalMs: deps.settings.pollIntervalMs, now: this.now });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.deps.notifier.subscribe('jobs', () => this.poke());
    this.expiry.start();
    // Leases are renewed while their jobs run here, so only a worker that stopped loses them; a
    // slow delivery or a long wait for a connection never hands a live job to another worker.
    this.heartbeat = setInterval(() => {
      const ids = [...this.inFlightJobs];
      if (ids.length === 0) return;
      this.deps.store.renewLeases(this.owner, ids, this.now() + this.deps.settings.leaseMs).catch((e: Error) => this.deps.logger.warn({ err: e.message }, 'could not renew leases'));
    }, Math.max(100, Math.floor(this.deps.settings.leaseMs / 3)));
    this.heartbeat.unref();
    this.loop = this.run();
  }

  /** Stops claiming, lets in-flight steps finish (bounded), then gives back any remaining leases. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.expiry.stop();
    for (const t of this.retryTimers) clearTimeout(t);
    this.retryTimers.clear();
    this.poke();
    await this.loop;
    const drained = Promise.all([...this.inFlight]);
    await Promise.race([drained, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    clearInterval(this.heartbeat);
    const released = await this.deps.store.releaseLeases(this.owner).catch(() => 0);
    if (released > 0) this.deps.logger.info({ released }, 'engine released leases on shutdown');
  }

  private poke(): void {
    this.pendingWake = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    const { settings } = this.deps;
    while (this.running) {
      // Always clear the wake-up flag before deciding to sleep: with every slot busy and a wake-up
      // pending, this loop would otherwise spin without ever awaiting, freezing the process.
      this.pendingWake = false;
      const batchFull = await this.runBatches();
      const capacity = settings.concurrency - this.inFlight.size;
      let started = 0;
      const leasedOnly = this.now() < this.leasedOnlyUntil;
      const claimLeased = this.hasPushProviders || leasedOnly || this.now() >= this.nextLeasedClaim;
      if (capacity > 0 && claimLeased) {
        this.nextLeasedClaim = this.now() + settings.pollIntervalMs;
        let claimed: Job[] = [];
        try {
          claimed = await this.deps.store.claim(this.owner, this.now(), settings.leaseMs, capacity, leasedOnly ? undefined : this.batchProviders);
        } catch (e) {
          this.deps.logger.warn({ err: (e as Error).message }, 'engine could not claim work');
        }
        for (const job of claimed) {
          // Our own lease ran out while the step is still running here: the claim only renewed it.
          // Running the step a second time concurrently would repeat its delivery.
          if (this.inFlightJobs.has(job.id)) continue;
          started++;
          this.inFlightJobs.add(job.id);
          const p = this.process(job).finally(() => {
            this.inFlight.delete(p);
            this.inFlightJobs.delete(job.id);
            this.poke();
          });
          this.inFlight.add(p);
        }
      }
      if (batchFull || (capacity > 0 && claimLeased && started === capacity) || this.pendingWake) {
        // More may be due. Yield first: on SQLite a claim and a whole step can complete without
        // leaving the microtask queue, and a long backlog must not starve HTTP and timers.
        await new Promise((r) => setImmediate(r));
        continue;
      }
      await this.sleep(settings.pollIntervalMs);
    }
  }

  /**
   * Pull-provider steps (feeds, agents) are pure database work: up to `batchSize` of them run in
   * one transaction, which is their claim — no lease writes, one commit for the lot. Returns true
   * when the batch was full (more may be due).
   */
  /**
   * Runs one batch, and when it was full, more of them side by side (up to `parallelBatches`): on
   * PostgreSQL, batches taken with SKIP LOCKED are disjoint and each spends most of its time in round
   * trips, so parallel batches multiply throughput. SQLite has one writer: one batch at a time.
   */
  private async runBatches(): Promise<boolean> {
    const first = await this.runBatch();
    const parallel = this.deps.parallelBatches ?? 1;
    if (!first || parallel <= 1) return first;
    const more = await Promise.all(Array.from({ length: parallel - 1 }, () => this.runBatch()));
    return more.some(Boolean);
  }

  private async runBatch(): Promise<boolean> {
    if (this.batchProviders.length === 0 || this.now() < this.leasedOnlyUntil) return false;
    const done: Job[] = [];
    try {
      const r = await this.deps.store.runBatch(this.batchProviders, this.now(), batchSize, async (tx, job) => {
        done.push(job);
        return this.ledgerStep(tx, job, this.deps.providers.get(job.provider)!);
      });
      for (const job of done) this.deps.metrics?.step(job.provider, job.kind, 'done');
      if (r.retryAt !== null) this.wakeAt(r.retryAt);
      return r.count === batchSize;
    } catch (e) {
      // Nothing was committed. Let the leased path take these jobs one by one for a while: it counts
      // attempts, so a job that keeps failing ends Failed instead of blocking every batch.
      this.deps.logger.warn({ err: (e as Error).message, jobs: done.length }, 'engine batch failed; retrying its jobs one by one');
      this.leasedOnlyUntil = this.now() + 5000;
      return true;
    }
  }

  /**
   * Runs one step through the store; when the step asked to be retried, wakes the loop when the
   * retry falls due (after the commit), so backoff delays are kept instead of rounded up to the
   * poll interval. Retries scheduled by other nodes are still found by the poll.
   */
  private async runStep(job: Job, body: (tx: JobTransaction) => Promise<JobDisposition>): Promise<'done' | 'lost'> {
    let retryAt: number | undefined;
    const r = await this.deps.store.runJob(job, { owner: this.owner, until: () => this.now() + this.deps.settings.leaseMs }, this.now(), async (tx) => {
      const d = await body(tx);
      retryAt = d.kind === 'retry' ? d.runAt : undefined;
      return d;
    });
    if (r === 'done' && retryAt !== undefined) this.wakeAt(retryAt);
    return r;
  }

  private wakeAt(at: number): void {
    if (!this.running) return;
    // +2 ms: a timer may fire a millisecond early, and the claim compares run_at with the clock.
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      this.poke();
    }, Math.max(0, at - this.now()) + 2);
    timer.unref();
    this.retryTimers.add(timer);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  private async process(job: Job): Promise<void> {
    const provider = this.deps.providers.get(job.provider);
    try {
      if (!provider) {
        await this.runStep(job, async (tx) => {
          await tx.transition({ status: 'Failed', reason: `provider '${job.provider}' is no longer configured`, errorInfo: { code: 0, subcode: 0, message: `provider '${job.provider}' is no longer configured` } });
          return { kind: 'finish' };
        });
        return;
      }
      if (job.attempts > this.deps.settings.maxAttempts) return await this.giveUp(job, provider);
      if (isPushProvider(provider)) return await this.processPush(job, provider);
      const r = await this.runStep(job, (tx) => this.ledgerStep(tx, job, provider));
      this.deps.metrics?.step(provider.name, job.kind, r === 'lost' ? 'lost' : 'done');
    } catch (e) {
      await this.retryAfterError(job, e as Error);
    }
  }

  private async ledgerStep(tx: JobTransaction, job: Job, provider: ProviderDescriptor) {
    if (job.kind === 'apply') {
      // Cancelled or expired before dispatch: the queued withdrawal does the rest.
      if (tx.action.cancelledAt !== null || tx.action.expiredAt !== null) return { kind: 'finish' } as const;
      return applyByLedger(tx, provider);
    }
    // No need to wait for an apply another worker holds: it runs in one transaction on the same
    // (locked) action row and does nothing once it sees the cancel or expiry; whichever commits
    // first, the ledger ends right (`ledgerRemove` only undoes an apply that happened).
    await tx.dropApplyJob();
    return withdrawByLedger(tx, provider);
  }

  private async processPush(job: Job, provider: Parameters<typeof pushPhaseOne>[2]): Promise<void> {
    let phase: Job | undefined;
    let action: JobTransaction['action'] | undefined;
    let skip = false;
    const first = await this.runStep(job, async (tx) => {
      if (job.kind === 'apply' && (tx.action.cancelledAt !== null || tx.action.expiredAt !== null)) {
        skip = true;
        return { kind: 'finish' };
      }
      if (job.kind === 'withdraw' && (await tx.dropApplyJob()) === 'inFlight') {
        // The block may be on its way: unblocking now could overtake it. Park until the apply's
        // lease must have ended; the store wakes this job as soon as the apply finishes or retries.
        skip = true;
        return { kind: 'retry', runAt: tx.now + this.deps.settings.leaseMs, error: 'waiting for the in-flight apply to finish' };
      }
      const d = await pushPhaseOne(tx, job, provider);
      if (d.kind === 'keep') phase = { ...job, payload: d.payload };
      action = tx.action;
      return d;
    });
    if (first === 'lost' || skip || !phase) return;
    const p = phase.payload ?? {};
    let result: DeliveryResult = { kind: 'skipped' };
    if (p['deliver'] === true && action) {
      result = await provider.deliver(p['event'] as 'block' | 'unblock', action, { sequence: Number(p['sequence'] ?? 0), attempt: job.attempts });
    }
    if (result.kind === 'retry') this.deps.logger.warn({ provider: provider.name, actionSeq: job.actionSeq, attempt: job.attempts, err: result.message }, 'delivery failed; will retry');
    if (result.kind === 'retry' || result.kind === 'fail') this.deps.metrics?.providerError(provider.name, result.kind === 'fail' || job.attempts >= this.deps.settings.maxAttempts);
    const r = await this.runStep(phase, (tx) => pushPhaseTwo(tx, phase!, provider, result, { settings: this.deps.settings }));
    this.deps.metrics?.step(provider.name, job.kind, r === 'lost' ? 'lost' : result.kind === 'retry' ? 'retry' : result.kind === 'fail' ? 'failed' : 'done');
  }

  private async giveUp(job: Job, provider: ProviderDescriptor): Promise<void> {
    await this.runStep(job, async (tx) => {
      const message = `gave up after ${job.attempts - 1} attempts${job.lastError ? `: ${job.lastError}` : ''}`;
      if (job.kind === 'apply') await tx.ledgerRemove();
      await tx.transition({ status: 'Failed', reason: `${provider.name}: ${message}`, errorInfo: { code: 0, subcode: 0, message } });
      return { kind: 'finish' };
    });
  }

  private async retryAfterError(job: Job, e: Error): Promise<void> {
    this.deps.logger.error({ actionSeq: job.actionSeq, kind: job.kind, provider: job.provider, err: e.message }, 'engine step failed; will retry');
    this.deps.metrics?.step(job.provider, job.kind, 'error');
    const delay = backoffDelay(job.attempts, this.deps.settings.backoffBaseMs, this.deps.settings.backoffMaxMs);
    await this.runStep(job, async () => ({ kind: 'retry', runAt: this.now() + delay, error: e.message })).catch(() => undefined); // the lease expires and another worker retries
  }
}
