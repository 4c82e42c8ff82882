/**
 * Group commit: callers submit items and they are written together, one transaction per batch.
 * The first item of a batch waits one event-loop turn (`setImmediate`) before the write starts, so
 * every request read in the same I/O phase joins it — with better-sqlite3 the write itself is
 * synchronous and no request can arrive while it runs. Under load many requests share one commit
 * (one WAL append and fsync on SQLite, one round-trip series on PostgreSQL); alone, an item costs
 * one turn of latency. Each caller's promise settles when its batch has committed.
 */
export class GroupCommit<T> {
  private queue: { item: T; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private writing = false;
  private scheduled = false;

  constructor(private readonly write: (items: T[]) => Promise<void>, private readonly maxBatch = 256) {}

  submit(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.writing && !this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          void this.drain();
        });
      }
    });
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          await this.write(batch.map((b) => b.item));
          for (const b of batch) b.resolve();
        } catch (e) {
          for (const b of batch) b.reject(e);
        }
      }
    } finally {
      this.writing = false;
    }
  }
}
