import http from 'node:http';

/** Keep-alive HTTP for the latency probes: lighter and more predictable than fetch. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** another keep-alive pool (a load run with more connections than the probes' 16); false: a new connection */
  agent?: http.Agent | false;
  /** read the body to its end but keep none of it (the reply's body is '') */
  discardBody?: boolean;
}

export function request(method: string, url: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...options.headers };
    if (options.body !== undefined) headers['content-length'] = Buffer.byteLength(options.body);
    const req = http.request(url, { method, headers, agent: options.agent ?? agent, signal: options.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => void (options.discardBody || chunks.push(c)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

export async function json<T>(method: string, url: string, options: { headers?: Record<string, string>; body?: unknown } = {}): Promise<{ status: number; body: T }> {
  const r = await request(method, url, {
    headers: { accept: 'application/json', ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}), ...options.headers },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  return { status: r.status, body: (r.body ? JSON.parse(r.body) : undefined) as T };
}
