import type { BlockEntry, ChangeBatch } from './change-batch.js';

/**
 * What the server wants blocked, one entry per indicator value. Overlaps are kept as they are
 * (a /24 and a /32 inside it are two entries), so removing one leaves the other in force; turning
 * entries into disjoint nftables intervals is `toElements`' job.
 */
export class BlockState {
  private readonly entries = new Map<string, BlockEntry>();

  /** Applies one batch: a snapshot replaces everything, otherwise `added` upserts and `removed` deletes. */
  apply(batch: Pick<ChangeBatch, 'snapshot' | 'added' | 'removed'>): void {
    if (batch.snapshot) this.entries.clear();
    for (const { key } of batch.removed) this.entries.delete(key);
    for (const entry of batch.added) this.entries.set(entry.key, entry);
  }

  values(): IterableIterator<BlockEntry> {
    return this.entries.values();
  }

  get size(): number {
    return this.entries.size;
  }
}
