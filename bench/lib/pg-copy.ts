import type pg from 'pg';
import type { Cell } from './seed-rows.js';

/** A value in COPY's text format: `\N` for NULL, backslash escapes for the four special characters. */
function copyText(v: Cell): string {
  if (v === null) return '\\N';
  const s = String(v);
  return /[\\\t\n\r]/.test(s) ? s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r') : s;
}

export function copyLine(cells: readonly Cell[]): string {
  return `${cells.map(copyText).join('\t')}\n`;
}

/**
 * `COPY … FROM STDIN` through node-postgres' submittable hook (what pg-copy-streams does, without
 * the dependency): send the buffered rows on CopyInResponse, then CopyDone.
 */
class CopyIn {
  readonly done: Promise<void>;
  private settle!: (e?: Error) => void;
  private error?: Error;

  constructor(private readonly text: string, private readonly chunks: readonly string[]) {
    this.done = new Promise<void>((resolve, reject) => (this.settle = (e) => (e ? reject(e) : resolve())));
  }

  submit(connection: { query(text: string): void }): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: { sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void }): void {
    for (const c of this.chunks) connection.sendCopyFromChunk(Buffer.from(c, 'utf8'));
    connection.endCopyFrom();
  }

  handleError(e: Error): void {
    this.error = e;
  }

  handleReadyForQuery(): void {
    this.settle(this.error);
  }

  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
}

/** COPYs `text` (lines from copyLine) into `table (columns)`, sent in 1 MB chunks. */
export async function copyInto(client: pg.Client, table: string, columns: readonly string[], text: string): Promise<void> {
  const chunks: string[] = [];
  for (let at = 0; at < text.length; ) {
    const end = text.indexOf('\n', Math.min(text.length - 1, at + (1 << 20)));
    const stop = end < 0 ? text.length : end + 1;
    chunks.push(text.slice(at, stop));
    at = stop;
  }
  const copy = new CopyIn(`copy ${table} (${columns.join(', ')}) from stdin`, chunks);
  client.query(copy as unknown as pg.Submittable);
  await copy.done;
}
