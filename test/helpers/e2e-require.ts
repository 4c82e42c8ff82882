import fs from 'node:fs';
import path from 'node:path';

/** Where system tools live even when the caller's PATH lacks the sbin directories. */
const extraDirs = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];

/** Absolute path of an executable, or undefined when it is not installed. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface E2eRequirement {
  /** true when every tool was found */
  available: boolean;
  /** resolved absolute paths by tool name (only the ones found) */
  tools: Record<string, string>;
  /** a describe() title: the suite name, plus the skip reason when tools are missing */
  title: string;
  reason: string;
}

/** True when CI (or a developer) demands that e2e suites run instead of skipping. */
export const e2eRequired = (): boolean => process.env['BULWARK_E2E_REQUIRED'] === '1';

/**
 * Checks for the system tools an e2e suite needs. Missing tools make the suite skip with a visible
 * reason (in its title and on stderr) — unless `BULWARK_E2E_REQUIRED=1`, where they fail the file:
 * CI installs the tools, so a silent skip there would hide a broken set-up.
 *
 * ```ts
 * const req = requireTools('unbound RPZ', ['unbound', 'unbound-control', 'dig']);
 * describe.skipIf(!req.available)(req.title, () => { … });
 * ```
 */
export function requireTools(suite: string, names: readonly string[]): E2eRequirement {
  const tools: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of names) {
    const found = findTool(name);
    if (found) tools[name] = found;
    else missing.push(name);
  }
  if (missing.length === 0) return { available: true, tools, title: suite, reason: '' };
  const reason = `missing ${missing.join(', ')} (apt-get install -y ${debianPackages(missing).join(' ')})`;
  if (e2eRequired()) {
    throw new Error(`${suite}: BULWARK_E2E_REQUIRED=1 but ${reason}`);
  }
  process.stderr.write(`[e2e] SKIPPED ${suite}: ${reason}\n`);
  return { available: false, tools, title: `${suite} [SKIPPED: ${reason}]`, reason };
}

const packageOf: Record<string, string> = {
  unbound: 'unbound',
  'unbound-control': 'unbound',
  'unbound-checkconf': 'unbound',
  dig: 'dnsutils',
  nft: 'nftables',
  ip: 'iproute2',
};

function debianPackages(tools: readonly string[]): string[] {
  return [...new Set(tools.map((t) => packageOf[t] ?? t))];
}
