import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { repoRoot } from './service.js';
import { machineLoad } from './proc.js';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  ramGb: number;
  node: string;
  platform: string;
  gitCommit: string;
  gitDirty: boolean;
  loadAverageAtStart: number[];
  date: string;
}

export function machineInfo(): MachineInfo {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return '';
    }
  };
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    ramGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    gitCommit: git(['rev-parse', '--short=12', 'HEAD']) || 'unknown',
    gitDirty: git(['status', '--porcelain', '--untracked-files=no']) !== '',
    loadAverageAtStart: machineLoad(),
    date: new Date().toISOString(),
  };
}

export const describeMachine = (m: MachineInfo) =>
  `${m.cpuModel}, ${m.cores} cores, ${m.ramGb} GB RAM, Node ${m.node}, ${m.platform}, commit ${m.gitCommit}${m.gitDirty ? ' (+ uncommitted changes)' : ''}, load ${m.loadAverageAtStart.join('/')}`;
