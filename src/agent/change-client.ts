import { parseChangeBatch, type ChangeBatch } from './change-batch.js';

/** The server side of the agent protocol, as the agent loop needs it (a fake in unit tests). */
export interface ChangeSource {
  /** a snapshot when `since` is undefined, else the net changes since it, long-polled up to `waitSeconds` */
  read(since: number | undefined, waitSeconds: number, signal: AbortSignal): Promise<ChangeBatch>;
  confirm(cursor: number, signal: AbortSignal): Promise<{ confirmedCursor: number; completedActions: number }>;
}

export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/**
 * `GET {server}/agents/{tenantId}/{provider}/changes` and `POST …/confirm` with the agent's bearer
 * token. Every request has a deadline (the long-poll wait plus slack) so a silently dropped
 * connection cannot stall the agent forever.
 */
export function createChangeClient(options: { server: string; tenantId: string; provider: string; token: string; fetch?: typeof fetch }): ChangeSource {
  const doFetch = options.fetch ?? fetch;
  const base = `${options.server.replace(/\/+$/, '')}/agents/${encodeURIComponent(options.tenantId)}/${encodeURIComponent(options.provider)}`;
  const headers = { authorization: `Bearer ${options.token}`, 'user-agent': 'bulwark-agent-nftables/1' };

  async function call(url: string, init: RequestInit, deadlineMs: number, signal: AbortSignal): Promise<unknown> {
    const res = await doFetch(url, { ...init, signal: AbortSignal.any([signal, AbortSignal.timeout(deadlineMs)]) });
    const text = await res.text();
    if (!res.ok) throw new HttpStatusError(res.status, `${init.method ?? 'GET'} ${url.replace(/\?.*/, '')}: HTTP ${res.status} ${errorMessage(text)}`);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new HttpStatusError(res.status, `${url}: the answer is not JSON`);
    }
  }

  return {
    async read(since, waitSeconds, signal) {
      const url = since === undefined ? `${base}/changes` : `${base}/changes?since=${since}&wait=${waitSeconds}`;
      return parseChangeBatch(await call(url, { method: 'GET', headers }, (waitSeconds + 30) * 1000, signal));
    },
    async confirm(cursor, signal) {
      const body = (await call(`${base}/confirm`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ cursor }) }, 30_000, signal)) as Record<string, unknown>;
      return { confirmedCursor: Number(body['confirmedCursor']), completedActions: Number(body['completedActions'] ?? 0) };
    },
  };
}

function errorMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
    if (typeof m === 'string') return m;
  } catch {
    // not a Graph error envelope
  }
  return text.slice(0, 200);
}
