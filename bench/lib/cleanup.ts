import fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { log } from './util.js';

/**
 * Everything the bench starts or creates is registered here and undone in reverse order: at the
 * end of the run, on an error, and on Ctrl-C/SIGTERM. The synchronous `exit` handler is the last
 * resort: it SIGKILLs any child still alive and removes temp dirs.
 */
const tasks: { name: string; run: () => Promise<void> | void }[] = [];
const children = new Set<ChildProcess>();
const dirs = new Set<string>();
let running: Promise<void> | undefined;

export function onCleanup(name: string, run: () => Promise<void> | void): () => void {
  const task = { name, run };
  tasks.push(task);
  return () => {
    const i = tasks.indexOf(task);
    if (i >= 0) tasks.splice(i, 1);
  };
}

export function trackChild(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

export function trackDir(dir: string): string {
  dirs.add(dir);
  return dir;
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

export function cleanupAll(): Promise<void> {
  running ??= (async () => {
    while (tasks.length > 0) {
      const task = tasks.pop()!;
      try {
        await Promise.race([task.run(), new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 20_000).unref())]);
      } catch (e) {
        log(`cleanup '${task.name}' failed: ${(e as Error).message}`);
      }
    }
    killAllSync();
  })();
  return running;
}

function killAllSync(): void {
  for (const child of children) {
    try {
      // A paused child ignores SIGTERM until continued.
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

export function installSignalHandlers(): void {
  let interrupted = false;
  const stop = (signal: NodeJS.Signals) => {
    if (interrupted) {
      killAllSync();
      process.exit(130);
    }
    interrupted = true;
    log(`${signal}: stopping and cleaning up (again to force)`);
    void cleanupAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('exit', killAllSync);
}
