import dgram from 'node:dgram';
import net from 'node:net';

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Nearest-rank percentile of unsorted samples (ms); NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** A loopback port free for TCP (and UDP when `udp`), picked at random away from common defaults. */
export async function freePort(udp = false): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const tcp = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (!tcp) continue;
    if (!udp) return port;
    const ok = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free loopback port');
}

/** The n-th address counted from `base` (an IPv4 dotted quad), e.g. distinct IPs per scenario. */
export function ipv4(base: string, n: number): string {
  const start = base.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const v = start + n;
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

export const round = (v: number | undefined, digits = 1): number | undefined =>
  v === undefined || !Number.isFinite(v) ? undefined : Math.round(v * 10 ** digits) / 10 ** digits;

export function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
