import { describe, it, expect } from 'vitest';
import type { FilterNode } from '../../src/odata/ast.js';
import { evaluateFilter } from '../../src/odata/evaluate.js';
import { parseFilter } from '../../src/odata/filter-parser.js';
import { securityActionProperties } from '../../src/odata/property-map.js';
import { filterVocabulary, generateFilter, seededRng } from './filter-generator.js';

/** Everything in an AST worth counting, as `kind:detail` strings. */
function features(node: FilterNode, out: Set<string>, inLambda = false): Set<string> {
  const where = inLambda ? 'lambda.' : '';
  switch (node.type) {
    case 'compare':
      out.add(`op:${node.op}`).add(`${where}property:${node.property}`);
      if (node.value === null) out.add(`null:${node.op}`);
      break;
    case 'in':
      out.add('in').add(`${where}property:${node.property}`).add(`in:${node.property}`);
      break;
    case 'function':
      out.add(`function:${node.name}`).add(`${where}property:${node.property}`);
      break;
    case 'and':
    case 'or':
      out.add(node.type);
      features(node.left, out, inLambda);
      features(node.right, out, inLambda);
      break;
    case 'not':
      out.add('not');
      features(node.operand, out, inLambda);
      break;
    case 'any':
      out.add('any');
      features(node.predicate, out, true);
      break;
    case 'anyNonEmpty':
      out.add('anyNonEmpty');
      break;
    default:
      return node satisfies never;
  }
  return out;
}

describe('generateFilter', () => {
  it('is deterministic for a seed', () => {
    const run = () => Array.from({ length: 20 }, ((rng) => () => generateFilter(rng, 3))(seededRng(42)));
    expect(run()).toEqual(run());
  });

  it('produces 2,000 filters that all parse and evaluate, covering the whole grammar', () => {
    const rng = seededRng(20240101);
    const seen = new Set<string>();
    const subject = {
      get: (property: string) => (property.endsWith('DateTime') ? filterVocabulary.dates[0] : property === 'status' ? 'Running' : 'BlockIp'),
      parameters: [{ name: 'IP', value: '203.0.113.7' }, { name: 'comment', value: null }],
    };
    for (let i = 0; i < 2000; i++) {
      const filter = generateFilter(rng, i % 5);
      let ast: FilterNode;
      try {
        ast = parseFilter(filter);
      } catch (e) {
        throw new Error(`generated filter #${i} did not parse: ${filter}\n${String(e)}`);
      }
      features(ast, seen);
      expect(typeof evaluateFilter(ast, subject)).toBe('boolean');
      if (/\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})/.test(filter)) seen.add('unquoted date');
      if (/microsoft\.graph\.operationStatus'/.test(filter)) seen.add('enum literal');
      if (/^'|[(\s]'[^']*' (eq|ne|gt|ge|lt|le) /.test(filter)) seen.add('literal first');
    }
    const expected = [
      'op:eq', 'op:ne', 'op:gt', 'op:ge', 'op:lt', 'op:le', 'null:eq', 'null:ne', 'in', 'in:status', 'in:createdDateTime',
      'function:startswith', 'function:endswith', 'function:contains', 'and', 'or', 'not', 'any', 'anyNonEmpty',
      'lambda.property:name', 'lambda.property:value', 'unquoted date', 'enum literal', 'literal first',
      ...Object.keys(securityActionProperties).map((p) => `property:${p}`),
    ];
    expect(expected.filter((f) => !seen.has(f))).toEqual([]);
  });

  it('stays within the parser limits at the maximum depth', () => {
    const rng = seededRng(7);
    for (let i = 0; i < 300; i++) {
      const filter = generateFilter(rng, 99);
      expect(filter.length).toBeLessThanOrEqual(4096);
      expect(() => parseFilter(filter)).not.toThrow();
    }
  });
});
