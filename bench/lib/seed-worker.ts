import { parentPort } from 'node:worker_threads';
import { copyLine } from './pg-copy.js';
import { seededAction } from './seed-rows.js';

/** What the seeder asks for: rows `from`..`to` of a round of `add` rows. */
export interface BatchRequest {
  from: number;
  to: number;
  /** global seeded-row counter at `from` (indicators stay distinct across rounds) */
  n: number;
  firstSeq: number;
  tenantId: string;
  now: number;
  add: number;
}

/** The batch as COPY text (one line per row), and the ids it holds. */
export interface Batch {
  ids: string[];
  actions: string;
  parameters: string;
}

/** Generates PostgreSQL seed batches off the main thread, so generating the next batch overlaps copying this one. */
parentPort?.on('message', (r: BatchRequest) => {
  const batch: Batch = { ids: [], actions: '', parameters: '' };
  for (let k = r.from; k < r.to; k++) {
    const row = seededAction(r.n + (k - r.from), r.firstSeq + k, r.tenantId, r.now, k / r.add);
    batch.ids.push(row.id);
    batch.actions += copyLine(row.action);
    for (const p of row.parameters) batch.parameters += copyLine(p);
  }
  parentPort!.postMessage(batch);
});
