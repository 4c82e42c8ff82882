import { spawn } from 'node:child_process';

/** Runs one nft script as one transaction; resolves when the kernel committed it. */
export interface NftRunner {
  run(script: string): Promise<void>;
}

export class NftError extends Error {
  override readonly name = 'NftError';
  constructor(message: string, readonly stderr: string, readonly code: number | null) {
    super(message);
  }
}

/**
 * One `nft -f -` process per batch: nft parses the whole file and commits it as a single netlink
 * transaction (all or nothing), and its exit status and stderr belong to exactly that batch. A
 * long-lived `nft -i` would save the process start (≈ 10–20 ms here) but answers on an unframed
 * text stream: an error has to be matched to its command by parsing output, success has no
 * marker at all, and a hung or half-dead process leaves the agent unsure what was committed.
 * Batches are already coalesced by the server (net changes, up to thousands per answer), so the
 * process costs per batch, never per change.
 */
export function createNftRunner(options: { nftPath: string; timeoutMs?: number }): NftRunner {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return {
    run(script) {
      return new Promise<void>((resolve, reject) => {
        const child = spawn(options.nftPath, ['-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          if (stderr.length < 64_000) stderr += d;
        });
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.on('error', (e) => {
          clearTimeout(timer);
          reject(new NftError(`cannot run ${options.nftPath}: ${e.message}`, '', null));
        });
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          if (code === 0) resolve();
          else reject(new NftError(`nft failed (${signal ? `killed by ${signal}` : `exit ${code}`}): ${firstLines(stderr)}`, stderr, code));
        });
        // EPIPE when nft dies early is reported through 'close' with its stderr.
        child.stdin.on('error', () => {});
        child.stdin.end(script);
      });
    },
  };
}

function firstLines(text: string): string {
  return text.trim().split('\n').slice(0, 3).join(' | ').slice(0, 500) || '(no output)';
}
