import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request the receiver got, whatever it answered. */
export interface Delivery {
  /** ms since epoch when the request arrived */
  at: number;
  /** `idempotency-key` header */
  key: string;
  event: string;
  /** `x-bulwark-attempt` header */
  attempt: number;
  timestamp: string;
  signatureValid: boolean;
  /** why the signature or timestamp was refused, when it was */
  rejectedBecause?: string;
  /** the parsed JSON body (undefined if it did not parse) */
  body: any;
  raw: string;
  /** what the receiver answered; `hang` when it held the request past the sender's timeout */
  answered: number | 'hang';
}

/** A scripted answer for the next matching requests. */
export type Fault = { status: number } | { hangMs: number };

export interface WebhookReceiver {
  url: string;
  /** every request, in arrival order */
  readonly deliveries: readonly Delivery[];
  /** requests refused for a bad signature or timestamp */
  readonly rejected: number;
  /** requests seen per idempotency key (every attempt counts) */
  attemptsFor(key: string): number;
  /** requests answered 2xx per idempotency key */
  acceptedFor(key: string): number;
  /** Answers the next `n` signed requests that `match` with `fault` instead of 200. */
  inject(n: number, fault: Fault, match?: (d: Pick<Delivery, 'event' | 'key' | 'body'>) => boolean): void;
  /** Waits (bounded) until `check` over the deliveries is true; returns the deliveries. */
  waitUntil(check: (all: readonly Delivery[]) => boolean, timeoutMs?: number, what?: string): Promise<readonly Delivery[]>;
  close(): Promise<void>;
}

/**
 * A real HTTP webhook endpoint for tests. It verifies `x-bulwark-signature` =
 * `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>` with a constant-time compare and checks
 * that `x-bulwark-timestamp` is within `toleranceSeconds` of now; bad ones are answered 401 and
 * counted. Valid ones are answered 200 unless a fault was injected (status or a hang).
 */
export async function startWebhookReceiver(options: { secret: string; toleranceSeconds?: number; path?: string; latencyMs?: number }): Promise<WebhookReceiver> {
  const tolerance = options.toleranceSeconds ?? 300;
  const hookPath = options.path ?? '/hook';
  const deliveries: Delivery[] = [];
  const attempts = new Map<string, number>();
  const accepted = new Map<string, number>();
  const faults: { left: number; fault: Fault; match: (d: Pick<Delivery, 'event' | 'key' | 'body'>) => boolean }[] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let rejected = 0;

  const notify = () => {
    for (const w of waiters) w();
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const header = (name: string) => {
        const v = req.headers[name];
        return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
      };
      const timestamp = header('x-bulwark-timestamp');
      const problem = req.method !== 'POST' || req.url !== hookPath ? `unexpected ${req.method} ${req.url}` : verify(options.secret, timestamp, raw, header('x-bulwark-signature'), tolerance);
      let body: any;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const d: Delivery = {
        at: Date.now(),
        key: header('idempotency-key'),
        event: typeof body?.event === 'string' ? body.event : header('x-bulwark-event'),
        attempt: Number(header('x-bulwark-attempt')),
        timestamp,
        signatureValid: problem === undefined,
        ...(problem ? { rejectedBecause: problem } : {}),
        body,
        raw,
        answered: 200,
      };
      attempts.set(d.key, (attempts.get(d.key) ?? 0) + 1);
      const answer = (status: number) => {
        if (status >= 200 && status < 300) accepted.set(d.key, (accepted.get(d.key) ?? 0) + 1);
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ status }));
      };
      if (problem) {
        rejected++;
        d.answered = 401;
        deliveries.push(d);
        answer(401);
        return notify();
      }
      const scripted = faults.find((f) => f.left > 0 && f.match(d));
      if (scripted) scripted.left--;
      const fault = scripted?.fault;
      if (fault && 'hangMs' in fault) {
        d.answered = 'hang';
        deliveries.push(d);
        notify();
        // Hold the request past the sender's timeout; whatever we send then is never read.
        const t = setTimeout(() => {
          timers.delete(t);
          if (!res.writableEnded && !res.destroyed) res.writeHead(200).end('{}');
        }, fault.hangMs);
        timers.add(t);
        return;
      }
      d.answered = fault ? fault.status : 200;
      const respond = () => {
        deliveries.push(d);
        answer(d.answered as number);
        notify();
      };
      // `latencyMs`: a slow receiver, so deliveries are in flight when a test kills a worker.
      if (options.latencyMs) {
        const t = setTimeout(() => {
          timers.delete(t);
          respond();
        }, options.latencyMs);
        timers.add(t);
      } else respond();
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}${hookPath}`,
    deliveries,
    get rejected() {
      return rejected;
    },
    attemptsFor: (key) => attempts.get(key) ?? 0,
    acceptedFor: (key) => accepted.get(key) ?? 0,
    inject(n, fault, match = () => true) {
      faults.push({ left: n, fault, match });
    },
    waitUntil(check, timeoutMs = 10_000, what = 'the expected deliveries') {
      return new Promise((resolve, reject) => {
        const done = () => {
          if (!check(deliveries)) return;
          cleanup();
          resolve(deliveries);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`webhook receiver: timed out waiting for ${what}; got ${JSON.stringify(deliveries.map((d) => ({ key: d.key, attempt: d.attempt, answered: d.answered })))}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(done);
        };
        waiters.add(done);
        done();
      });
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Why a request's signature or timestamp is not acceptable; undefined when it is. */
export function verify(secret: string, timestamp: string, raw: string, signature: string, toleranceSeconds = 300, now = Date.now()): string | undefined {
  if (!/^\d{1,12}$/.test(timestamp)) return 'missing or malformed timestamp';
  if (Math.abs(now / 1000 - Number(timestamp)) > toleranceSeconds) return 'timestamp outside the tolerance';
  const m = /^v1=([0-9a-f]{64})$/.exec(signature);
  if (!m?.[1]) return 'missing or malformed signature';
  const expected = createHmac('sha256', secret).update(`${timestamp}.${raw}`).digest();
  const given = Buffer.from(m[1], 'hex');
  // Same length by construction (64 hex digits); timingSafeEqual would throw otherwise.
  return given.length === expected.length && timingSafeEqual(given, expected) ? undefined : 'signature mismatch';
}
