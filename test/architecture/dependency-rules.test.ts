import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/process.js';

/**
 * The dependency rule of ARCHITECTURE.md, checked on every import in src/ (plus the deliberate
 * additions recorded in docs/decisions/0012-layering.md).
 */
const rules: Record<string, { may: string[]; mustNot: string[] }> = {
  domain: { may: ['domain', 'odata'], mustNot: ['http', 'services', 'storage', 'engine', 'providers', 'auth', 'agent', 'cli', 'config', 'metrics'] },
  odata: { may: ['domain', 'odata'], mustNot: ['http', 'services', 'storage', 'engine', 'providers', 'auth', 'agent', 'cli', 'config', 'metrics'] },
  services: { may: ['domain', 'odata', 'storage/ports', 'providers/registry', 'providers/provider', 'auth', 'services'], mustNot: ['http', 'storage/sql', 'engine', 'cli'] },
  http: { may: ['services', 'auth', 'odata', 'domain', 'http', 'config/site', 'providers/registry', 'storage/ports', 'metrics'], mustNot: ['storage/sql', 'engine', 'cli'] },
  storage: { may: ['domain', 'odata', 'storage'], mustNot: ['http', 'services', 'engine', 'providers', 'cli', 'auth'] },
  engine: { may: ['storage/ports', 'providers', 'domain', 'engine'], mustNot: ['http', 'services', 'storage/sql', 'cli'] },
  providers: { may: ['providers', 'domain'], mustNot: ['storage', 'http', 'services', 'engine', 'cli'] },
  agent: { may: ['agent', 'domain'], mustNot: ['storage', 'http', 'services', 'engine', 'providers', 'cli'] },
  auth: { may: ['auth', 'domain', 'storage/ports'], mustNot: ['http', 'services', 'storage/sql', 'engine', 'cli'] },
};

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

const src = path.join(repoRoot, 'src');
const imports = sourceFiles(src).flatMap((file) => {
  const text = fs.readFileSync(file, 'utf8');
  const from = path.relative(src, file);
  return [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g)].map((m) => ({
    from,
    to: path.relative(src, path.resolve(path.dirname(file), (m[1] ?? m[2])!)).replace(/\.js$/, ''),
  }));
});

const layerOf = (p: string) => p.split(path.sep)[0]!;
const matches = (target: string, prefix: string) => target === prefix || target.startsWith(`${prefix}/`) || target.startsWith(`${prefix}${path.sep}`);

describe('dependency rule (ARCHITECTURE.md)', () => {
  it('finds the imports it checks', () => {
    expect(imports.length).toBeGreaterThan(200);
  });

  for (const [layer, rule] of Object.entries(rules)) {
    it(`${layer}/ imports only what it may`, () => {
      const offending = imports
        .filter((i) => layerOf(i.from) === layer)
        .filter((i) => rule.mustNot.some((p) => matches(i.to, p)) || !rule.may.some((p) => matches(i.to, p)))
        .map((i) => `${i.from} → ${i.to}`);
      expect(offending).toEqual([]);
    });
  }

  it('has no import cycles between layers', () => {
    const edges = new Set(imports.map((i) => `${layerOf(i.from)}>${layerOf(i.to)}`).filter((e) => e.split('>')[0] !== e.split('>')[1]));
    const cyclic = [...edges].filter((e) => {
      const [a, b] = e.split('>');
      return edges.has(`${b}>${a}`);
    });
    expect(cyclic).toEqual([]);
  });
});
