import { describe, expect, it } from 'vitest';
import { joinedJsonBody } from '../../src/http/wire/json-body.js';

/** joinedJsonBody must give exactly the bytes of the string it avoids building. */
describe('joinedJsonBody', () => {
  const cases: [string, string, string[], string][] = [
    ['no items', '{"value":[', [], ']}'],
    ['one item', '{"value":[', ['{"id":"a"}'], ']}'],
    ['multi-byte text', '{"@odata.context":"ü",', ['"é"', '"🛡️ 203.0.113.7"', '"中文"'], '}'],
    ['lone surrogates (encoded as U+FFFD, as Buffer.from does)', '[', ['"\ud800"', '"x\udfffy"', '"😀\ud83d"'], ']'],
    ['empty strings', '', ['', '', ''], ''],
    ['a page past 128 KB', '{"value":[', Array.from({ length: 100 }, (_, i) => `{"id":${i},"text":"${'é'.repeat(700)}"}`), ']}'],
  ];
  for (const [name, prefix, items, suffix] of cases) {
    it(name, () => {
      const expected = Buffer.from(`${prefix}${items.join(',')}${suffix}`);
      const body = joinedJsonBody(prefix, items, suffix);
      expect(body.length).toBe(expected.length);
      expect(body.equals(expected)).toBe(true);
    });
  }
});
