/**
 * The bench seeds get/list stores by writing rows straight into the database
 * (bench/lib/seed-rows.ts). Its figures mean something only if those rows are exactly what the
 * service itself writes for such actions: the same stored JSON (states in wire shape, parameters,
 * extras), so pages have the real size and the real splicing path, and reading one back through
 * the API shows a valid action.
 */
import { describe, expect, it } from 'vitest';
import { actionColumns, seededAction } from '../../bench/lib/seed-rows.js';
import { securityActionJsonText, securityActionToJson } from '../../src/http/wire/security-action-json.js';
import { actionFields, actionSelection, actionToRow, rowToAction, type ActionSelection } from '../../src/storage/sql/action-rows.js';
import { isoUtcPattern } from '../api/support.js';

const now = Date.UTC(2026, 10, 24, 12);

describe('bench seed rows', () => {
  for (const n of [0, 3, 9, 12_345]) {
    it(`action ${n} is stored as the service would store it`, () => {
      const { action } = seededAction(n, n + 1, 'tenant-1', now, (n % 100) / 100);
      const row = Object.fromEntries(actionColumns.map((c, i) => [c, action[i]])) as Record<string, unknown>;
      const read = rowToAction(row as unknown as ActionSelection);
      const written = { ...actionToRow(actionFields(read)), seq: n + 1 } as Record<string, unknown>;
      for (const column of actionSelection) expect(row[column], column).toEqual(written[column]);
      for (const s of read.states) expect(s.updatedAt).toBeGreaterThan(now - 100 * 86_400_000);
      const wire = JSON.parse(securityActionJsonText(read)) as { states: { updatedDateTime: string }[] };
      for (const s of wire.states) expect(s.updatedDateTime).toMatch(isoUtcPattern);
      expect(wire).toEqual(JSON.parse(JSON.stringify(securityActionToJson(read))));
    });
  }
});
