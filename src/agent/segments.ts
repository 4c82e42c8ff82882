import { cidrRange, type IpFamily } from '../domain/indicators/ip.js';
import type { BlockEntry } from './change-batch.js';

/** One element of an nftables interval set: an inclusive range and the absolute expiry it carries. */
export interface NftElement {
  family: IpFamily;
  first: bigint;
  last: bigint;
  /** epoch ms; null = no kernel timeout */
  expiresAt: number | null;
}

/**
 * Turns possibly overlapping entries into the disjoint, sorted elements an interval set accepts
 * (nft refuses overlapping intervals). Every address gets the latest expiry among the entries
 * that cover it — none if any of them is permanent — so the kernel lifts each address exactly when
 * its last covering block expires, not when the first one does nor when an unrelated neighbour
 * does. Adjacent pieces with the same expiry are joined. Entries already expired at `now` are
 * left out (the kernel has dropped them; the server's removal will follow).
 */
export function toElements(entries: Iterable<Pick<BlockEntry, 'cidr' | 'expiresAt' | 'range'>>, now: number): NftElement[] {
  const byFamily: Record<IpFamily, Item[]> = { 4: [], 6: [] };
  for (const e of entries) {
    if (e.expiresAt !== null && e.expiresAt <= now) continue;
    const r = e.range ?? cidrRange(e.cidr);
    byFamily[e.cidr.family].push({ first: r.first, last: r.last, rank: e.expiresAt ?? Number.POSITIVE_INFINITY });
  }
  return [...sweep(4, byFamily[4]), ...sweep(6, byFamily[6])];
}

interface Item {
  first: bigint;
  last: bigint;
  /** expiry for ordering; +Infinity = permanent */
  rank: number;
}

/**
 * A sweep over the range boundaries with a max-heap of the entries seen so far, ordered by expiry.
 * Entries that ended before the current position are discarded lazily when they reach the top:
 * O(n log n) even for a /8 with 100,000 /32s inside.
 */
function sweep(family: IpFamily, items: Item[]): NftElement[] {
  if (items.length === 0) return [];
  items.sort((a, b) => cmp(a.first, b.first));
  const bounds = [...new Set(items.flatMap((i) => [i.first, i.last + 1n]))].sort(cmp);
  const heap = new MaxHeap();
  const out: NftElement[] = [];
  let next = 0;
  for (let b = 0; b < bounds.length - 1; b++) {
    const at = bounds[b]!;
    while (next < items.length && items[next]!.first <= at) heap.push(items[next++]!);
    while (heap.top && heap.top.last < at) heap.pop();
    const top = heap.top;
    if (!top) continue;
    const expiresAt = top.rank === Number.POSITIVE_INFINITY ? null : top.rank;
    const last = bounds[b + 1]! - 1n;
    const previous = out.at(-1);
    if (previous && previous.last + 1n === at && previous.expiresAt === expiresAt) previous.last = last;
    else out.push({ family, first: at, last, expiresAt });
  }
  return out;
}

const cmp = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

class MaxHeap {
  private readonly a: Item[] = [];

  get top(): Item | undefined {
    return this.a[0];
  }

  push(item: Item): void {
    const a = this.a;
    a.push(item);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p]!.rank >= a[i]!.rank) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }

  pop(): void {
    const a = this.a;
    const last = a.pop()!;
    if (a.length === 0) return;
    a[0] = last;
    for (let i = 0; ; ) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && a[l]!.rank > a[m]!.rank) m = l;
      if (r < a.length && a[r]!.rank > a[m]!.rank) m = r;
      if (m === i) break;
      [a[m], a[i]] = [a[i]!, a[m]!];
      i = m;
    }
  }
}
