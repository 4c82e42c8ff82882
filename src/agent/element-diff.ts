import { cidrRange, mergeRanges, type Cidr, type IpFamily, type IpRange } from '../domain/indicators/ip.js';
import type { BlockEntry } from './change-batch.js';
import { toElements, type NftElement } from './segments.js';

/** An element the agent put into the kernel, with the latest moment its kernel timeout can fire. */
export interface AppliedElement extends NftElement {
  /** epoch ms by which the kernel has surely expired it (null = never) */
  goneBy: number | null;
}

/**
 * What one transaction must do to turn the applied elements into the desired ones.
 * - `remove`: surely still live in the kernel → plain `delete element`.
 * - `removeIfPresent`: its timeout may have fired → `add` + `delete` in the same transaction,
 *   which succeeds whether or not the kernel still has it. Elements that surely expired are
 *   removed this way too, not just forgotten: the kernel keeps expired interval elements until
 *   its next garbage collection, and Linux 6.18 refuses (EEXIST) a new interval that covers two
 *   or more of them (measured; see test/e2e/nftables-kernel.test.ts).
 * - `add`: new elements, each with the timeout left until its expiry.
 */
export interface ElementDiff {
  add: NftElement[];
  remove: AppliedElement[];
  removeIfPresent: AppliedElement[];
}

export const elementKey = (e: NftElement): string => `${e.family}|${e.first}|${e.last}|${e.expiresAt ?? 'never'}`;

export interface DiffTiming {
  now: number;
  /**
   * A delete is plain only if the element's timeout is at least this far away: the transaction
   * must reach the kernel before the element expires, or the whole batch fails.
   */
  safetyMs: number;
}

/** Compares by range *and* expiry: an element whose expiry moved is deleted and re-added (timeouts cannot be changed in place). */
export function diffElements(applied: ReadonlyMap<string, AppliedElement>, desired: readonly NftElement[], t: DiffTiming): ElementDiff {
  const wanted = new Map(desired.map((e) => [elementKey(e), e]));
  const diff: ElementDiff = { add: [], remove: [], removeIfPresent: [] };
  for (const [key, e] of applied) {
    if (wanted.has(key) && !surelyGone(e, t.now)) continue;
    if (e.expiresAt === null || e.expiresAt > t.now + t.safetyMs) diff.remove.push(e);
    else diff.removeIfPresent.push(e);
  }
  for (const [key, e] of wanted) {
    const a = applied.get(key);
    if (!a || surelyGone(a, t.now)) diff.add.push(e);
  }
  return diff;
}

/**
 * The diff for one batch without recomputing the whole table: only addresses inside a changed
 * range can change their expiry, and an element can only be re-cut where it intersects or touches
 * a changed range, so the window is the changed ranges plus the applied elements that intersect
 * or touch them. Inside it, elements are recomputed from the entries that overlap it and clipped
 * to it. Cost: linear scans instead of a sort of every entry (100k entries: tens of ms, not seconds).
 * The result equals `diffElements(applied, toElements(all entries))` restricted to live elements;
 * elements that expired elsewhere stay in the model until a window or a rebuild passes them.
 */
export function diffWindow(applied: ReadonlyMap<string, AppliedElement>, entries: Iterable<Pick<BlockEntry, 'cidr' | 'expiresAt' | 'range'>>, changed: readonly Cidr[], t: DiffTiming): ElementDiff {
  const c: Record<IpFamily, IpRange[]> = { 4: mergeRanges(changed.filter((x) => x.family === 4).map(cidrRange)), 6: mergeRanges(changed.filter((x) => x.family === 6).map(cidrRange)) };
  if (c[4].length === 0 && c[6].length === 0) return { add: [], remove: [], removeIfPresent: [] };
  // Applied elements that intersect or touch a changed range; they are also exactly the applied
  // elements inside the window (applied elements are disjoint).
  const inside = new Map<string, AppliedElement>();
  for (const [key, e] of applied) if (overlaps(c[e.family], e.first - 1n, e.last + 1n)) inside.set(key, e);
  const windows: Record<IpFamily, IpRange[]> = { 4: [...c[4]], 6: [...c[6]] };
  for (const e of inside.values()) windows[e.family].push({ first: e.first, last: e.last });
  windows[4] = mergeRanges(windows[4]);
  windows[6] = mergeRanges(windows[6]);
  const relevant: Pick<BlockEntry, 'cidr' | 'expiresAt' | 'range'>[] = [];
  for (const e of entries) {
    const r = e.range ?? cidrRange(e.cidr);
    if (overlaps(windows[e.cidr.family], r.first, r.last)) relevant.push(e);
  }
  return diffElements(inside, clip(toElements(relevant, t.now), windows), t);
}

/** Whether [first, last] intersects any of the sorted, disjoint `ranges` (binary search). */
function overlaps(ranges: readonly IpRange[], first: bigint, last: bigint): boolean {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ranges[mid]!.last < first) lo = mid + 1;
    else hi = mid;
  }
  const r = ranges[lo];
  return r !== undefined && r.first <= last;
}

/** Cuts sorted elements to the sorted windows of their family (a merge of two sorted lists). */
function clip(elements: readonly NftElement[], windows: Record<IpFamily, IpRange[]>): NftElement[] {
  const out: NftElement[] = [];
  const next: Record<IpFamily, number> = { 4: 0, 6: 0 };
  for (const e of elements) {
    const w = windows[e.family];
    let i = next[e.family];
    while (i < w.length && w[i]!.last < e.first) i++;
    next[e.family] = i;
    for (let j = i; j < w.length && w[j]!.first <= e.last; j++) {
      out.push({ ...e, first: w[j]!.first > e.first ? w[j]!.first : e.first, last: w[j]!.last < e.last ? w[j]!.last : e.last });
    }
  }
  return out;
}

const surelyGone = (e: AppliedElement, now: number) => e.goneBy !== null && e.goneBy < now;

/**
 * nft 1.0.6 refuses "add X; delete X; add Y" in one transaction when X is still live and Y
 * overlaps X with other bounds (its userspace cache keeps a copy of X; re-adding X itself with a new
 * timeout is fine; measured, see test/e2e/nftables-kernel.test.ts). An expired X is invisible to
 * userspace and fine. When a `removeIfPresent` element that may still be live overlaps a
 * differently cut new one, this returns the moment after which it has surely expired — wait until
 * then and diff again — else undefined. The wait is bounded by the uncertainty window (safety + nft
 * run time + margin, ≈ 0.6 s); the addresses re-cut at that very moment may go unblocked for about
 * the nft run time + margin after X's expiry.
 */
export function quirkFreeAt(d: ElementDiff, now: number): number | undefined {
  if (d.removeIfPresent.length === 0 || d.add.length === 0) return undefined;
  const adds: Record<number, NftElement[]> = { 4: [], 6: [] };
  for (const a of d.add) adds[a.family]!.push(a);
  for (const list of Object.values(adds)) list.sort((x, y) => (x.first < y.first ? -1 : x.first > y.first ? 1 : 0));
  let at: number | undefined;
  for (const x of d.removeIfPresent) {
    const list = adds[x.family]!;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.last < x.first) lo = mid + 1;
      else hi = mid;
    }
    if (x.goneBy === null || surelyGone(x, now)) continue;
    // Re-adding the very same range (a new timeout) is fine; only a differently cut overlap is not.
    for (let i = lo; i < list.length && list[i]!.first <= x.last; i++) {
      if (list[i]!.first !== x.first || list[i]!.last !== x.last) at = Math.max(at ?? 0, x.goneBy + 1);
    }
  }
  return at;
}

export function isEmptyDiff(d: ElementDiff): boolean {
  return d.add.length === 0 && d.remove.length === 0 && d.removeIfPresent.length === 0;
}

/**
 * The applied elements after a successful transaction. `startedAt`/`endedAt` bracket the nft run:
 * timeouts were rendered relative to `startedAt`, and the kernel started counting somewhere in
 * between, so an element is surely gone `endedAt - startedAt` (plus a margin for the kernel's
 * timer granularity) after its expiry.
 */
export function afterApply(applied: Map<string, AppliedElement>, diff: ElementDiff, run: { startedAt: number; endedAt: number; marginMs: number }): void {
  for (const e of [...diff.remove, ...diff.removeIfPresent]) applied.delete(elementKey(e));
  for (const e of diff.add) applied.set(elementKey(e), appliedElement(e, run));
}

/** The applied elements after a full rebuild (everything replaced). */
export function afterRebuild(applied: Map<string, AppliedElement>, elements: readonly NftElement[], run: { startedAt: number; endedAt: number; marginMs: number }): void {
  applied.clear();
  for (const e of elements) applied.set(elementKey(e), appliedElement(e, run));
}

function appliedElement(e: NftElement, run: { startedAt: number; endedAt: number; marginMs: number }): AppliedElement {
  return { ...e, goneBy: e.expiresAt === null ? null : e.expiresAt + (run.endedAt - run.startedAt) + run.marginMs };
}
