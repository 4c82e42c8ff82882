import type { Logger } from 'pino';
import type { AgentStore } from '../storage/ports.js';

/**
 * Periodic housekeeping: prunes the change stream beyond its retention (each stream keeps its
 * newest change, so cursors and RPZ serials never move backwards). Safe on every node at once.
 */
export class Maintenance {
  private timer?: NodeJS.Timeout;

  constructor(private readonly deps: { agents: AgentStore; logger: Logger; retentionMs: number; intervalMs?: number; now?: () => number }) {}

  start(): void {
    const interval = this.deps.intervalMs ?? 3_600_000;
    const run = () => {
      const now = (this.deps.now ?? Date.now)();
      this.deps.agents
        .prune(now - this.deps.retentionMs)
        .then((n) => n > 0 && this.deps.logger.info({ pruned: n }, 'pruned change stream history'))
        .catch((e: Error) => this.deps.logger.warn({ err: e.message }, 'change stream pruning failed'));
    };
    this.timer = setInterval(run, interval);
    this.timer.unref();
    setTimeout(run, Math.min(60_000, interval)).unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
