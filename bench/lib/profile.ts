import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export interface Hotspot {
  selfPercent: number;
  fn: string;
  where: string;
}

/** Top self-time functions of one `.cpuprofile` (written by `node --cpu-prof`). */
export function summarizeProfile(file: string, top = 20): Hotspot[] {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  const self = new Map<string, number>();
  let total = 0;
  for (const n of profile.nodes) {
    const hits = n.hitCount ?? 0;
    total += hits;
    const raw = n.callFrame.url.replace(/^file:\/\//, '');
    const url = raw.includes('/node_modules/') ? raw.replace(/.*\/node_modules\//, 'node_modules/') : raw.replace(/.*\/dist\//, 'dist/');
    const key = `${n.callFrame.functionName || '(anonymous)'}\t${url ? `${url}:${n.callFrame.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([key, hits]) => {
      const [fn, where] = key.split('\t') as [string, string];
      return { selfPercent: Math.round((hits / Math.max(total, 1)) * 1000) / 10, fn, where };
    });
}

/** The profiles in `dir`, each labelled with what its service process ran (file names carry the pid). */
export function reportProfiles(dir: string, phases: { pid: number; what: string[] }[]): { file: string; phases: string[]; hotspots: Hotspot[] }[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => {
      const pid = Number(f.split('.')[3]);
      const file = path.join(dir, f);
      return { file, phases: phases.find((p) => p.pid === pid)?.what ?? [], hotspots: summarizeProfile(file) };
    })
    .filter((p) => p.phases.length > 0);
}
