import type { Logger } from 'pino';
import type { Notifier } from '../storage/ports.js';
import type { EngineStore } from '../storage/ports.js';

/**
 * Withdraws expired actions on time: sleeps until the earliest pending expiry (re-checked at least
 * every poll interval, since another node may have created an earlier one), then queues the
 * withdrawals. Expiry is claimed with a conditional update, so several nodes never double it.
 */
export class ExpiryScheduler {
  private timer?: NodeJS.Timeout;
  private wakeAt = Infinity;
  private running = false;
  private unsubscribe?: () => void;

  constructor(private readonly deps: { store: EngineStore; notifier: Notifier; logger: Logger; pollIntervalMs: number; now: () => number }) {}

  start(): void {
    this.running = true;
    // New work announces its expiry (`expires:<ms>`); wake earlier if it is sooner than planned.
    this.unsubscribe = this.deps.notifier.subscribe('jobs', (payload) => {
      const m = /^expires:(\d+)$/.exec(payload);
      if (m && Number(m[1]) < this.wakeAt) this.schedule(Number(m[1]) - this.deps.now());
    });
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    const delay = Math.max(0, delayMs);
    this.wakeAt = this.deps.now() + delay;
    this.timer = setTimeout(() => void this.tick(), delay);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (!this.running) return;
    let next: number | null = null;
    try {
      // Batches of 100: the engine starts withdrawing the first batch while the next is queued.
      while ((await this.deps.store.expireDue(this.deps.now(), 100)) === 100);
      next = await this.deps.store.nextExpiry();
    } catch (e) {
      this.deps.logger.warn({ err: (e as Error).message }, 'expiry check failed');
    }
    if (!this.running) return;
    const wait = next === null ? this.deps.pollIntervalMs : Math.min(this.deps.pollIntervalMs, next - this.deps.now() + 1);
    this.schedule(wait);
  }
}
