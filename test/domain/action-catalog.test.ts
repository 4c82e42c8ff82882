import { describe, expect, it } from 'vitest';
import { actionNames, findActionDefinition, validateAction } from '../../src/domain/action-catalog.js';
import { BulwarkError } from '../../src/domain/errors.js';

const now = Date.parse('2026-03-01T12:00:00Z');
const sha256 = 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855';

function validate(name: unknown, parameters: unknown) {
  return validateAction({ name, parameters }, now);
}

/** The BulwarkError thrown by `fn`, for asserting on its message. */
function failure(fn: () => unknown): BulwarkError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BulwarkError) return e;
    throw e;
  }
  throw new Error('expected a BulwarkError');
}

describe('catalogue', () => {
  it('lists the canonical names', () => {
    expect(actionNames).toEqual(['BlockIp', 'BlockDomain', 'BlockUrl', 'BlockFile']);
  });

  it('finds definitions case-insensitively', () => {
    expect(findActionDefinition('blockip')?.name).toBe('BlockIp');
    expect(findActionDefinition('BLOCKURL')?.indicatorParameter).toBe('Url');
    expect(findActionDefinition('BlockEverything')).toBeUndefined();
  });
});

describe('validateAction: valid actions', () => {
  it.each([
    ['BlockIp', 'IP', '203.0.113.7', { type: 'ip', value: '203.0.113.7' }],
    ['blockIp', 'ip', '10.0.0.7/24', { type: 'ip', value: '10.0.0.0/24' }],
    ['BLOCKIP', 'Ip', '2001:DB8::0001', { type: 'ip', value: '2001:db8::1' }],
    ['BlockDomain', 'Domain', 'Bücher.Example.', { type: 'domain', value: 'xn--bcher-kva.example' }],
    ['blockdomain', 'DOMAIN', '*.evil.example', { type: 'domain', value: '*.evil.example' }],
    ['BlockUrl', 'Url', 'https://Evil.example/a?b=1#x', { type: 'url', value: 'https://evil.example/a?b=1' }],
    ['BlockFile', 'FileHash', sha256, { type: 'sha256', value: sha256.toLowerCase() }],
    ['blockfile', 'filehash', 'D41D8CD98F00B204E9800998ECF8427E', { type: 'md5', value: 'd41d8cd98f00b204e9800998ecf8427e' }],
    ['BlockFile', 'FileHash', 'da39a3ee5e6b4b0d3255bfef95601890afd80709', { type: 'sha1', value: 'da39a3ee5e6b4b0d3255bfef95601890afd80709' }],
  ])('%s %s=%s', (name, parameter, value, indicator) => {
    const result = validate(name, [{ name: parameter, value }]);
    const definition = findActionDefinition(name);
    expect(result).toEqual({
      name: definition?.name,
      parameters: [{ name: definition?.indicatorParameter, value: indicator.value }],
      indicator,
      expiresAt: null,
    });
  });

  it('ignores extra keys on parameters such as @odata.type', () => {
    const result = validate('BlockIp', [{ '@odata.type': 'microsoft.graph.keyValuePair', name: 'IP', value: '1.2.3.4' }]);
    expect(result.parameters).toEqual([{ name: 'IP', value: '1.2.3.4' }]);
  });

  it('resolves Duration from now and upper-cases it', () => {
    const result = validate('BlockIp', [
      { name: 'IP', value: '1.2.3.4' },
      { name: 'duration', value: 'pt4h' },
    ]);
    expect(result.expiresAt).toBe(now + 4 * 3_600_000);
    expect(result.parameters).toEqual([
      { name: 'IP', value: '1.2.3.4' },
      { name: 'Duration', value: 'PT4H' },
    ]);
  });

  it('resolves ExpirationDateTime and re-renders it in UTC', () => {
    const result = validate('BlockDomain', [
      { name: 'expirationdatetime', value: '2026-03-02T14:00:00+02:00' },
      { name: 'Domain', value: 'evil.example' },
    ]);
    expect(result.expiresAt).toBe(Date.parse('2026-03-02T12:00:00Z'));
    expect(result.parameters).toEqual([
      { name: 'ExpirationDateTime', value: '2026-03-02T12:00:00.000Z' },
      { name: 'Domain', value: 'evil.example' },
    ]);
  });
});

describe('validateAction: errors name the action or parameter and what is accepted', () => {
  it.each<[string, unknown, unknown, RegExp[]]>([
    ['unknown name', 'BlockEverything', [{ name: 'IP', value: '1.2.3.4' }], [/'BlockEverything'/, /BlockIp, BlockDomain, BlockUrl, BlockFile/]],
    ['non-string name', 42, [{ name: 'IP', value: '1.2.3.4' }], [/not a string/, /accepted names: BlockIp/]],
    ['missing name', undefined, [], [/accepted names/]],
    ['missing parameters', 'BlockIp', undefined, [/BlockIp/, /'parameters'/, /IP, ExpirationDateTime, Duration/]],
    ['empty parameters', 'BlockIp', [], [/BlockIp/, /1 to 16/]],
    ['parameters not an array', 'BlockIp', { IP: '1.2.3.4' }, [/'parameters'/]],
    ['too many parameters', 'BlockIp', Array.from({ length: 17 }, () => ({ name: 'IP', value: '1.2.3.4' })), [/1 to 16/]],
    ['non-object item', 'BlockIp', ['IP=1.2.3.4'], [/parameters\[0\]/, /string 'name'/]],
    ['null item', 'BlockIp', [{ name: 'IP', value: '1.2.3.4' }, null], [/parameters\[1\]/]],
    ['non-string name item', 'BlockIp', [{ name: 7, value: '1.2.3.4' }], [/parameters\[0\]/]],
    ['missing name item', 'BlockIp', [{ value: '1.2.3.4' }], [/parameters\[0\]/]],
    ['non-string value', 'BlockIp', [{ name: 'IP', value: 16909060 }], [/parameters\[0\]/, /string or null 'value'/]],
    ['missing value', 'BlockIp', [{ name: 'IP' }], [/parameters\[0\]/]],
    ['unknown parameter', 'BlockIp', [{ name: 'IP', value: '1.2.3.4' }, { name: 'Port', value: '22' }], [/BlockIp does not accept the parameter 'Port'/, /accepted parameters for BlockIp: IP, ExpirationDateTime, Duration/]],
    ['parameter of another action', 'BlockDomain', [{ name: 'IP', value: '1.2.3.4' }], [/'IP'/, /accepted parameters for BlockDomain: Domain, ExpirationDateTime, Duration/]],
    ['duplicate parameter', 'BlockIp', [{ name: 'IP', value: '1.2.3.4' }, { name: 'ip', value: '5.6.7.8' }], [/BlockIp parameter 'IP' is given more than once/]],
    ['missing indicator', 'BlockUrl', [{ name: 'Duration', value: 'PT1H' }], [/BlockUrl requires the parameter 'Url'/, /absolute http or https URL/]],
    ['null indicator', 'BlockIp', [{ name: 'IP', value: null }], [/BlockIp parameter 'IP' must be an IPv4 or IPv6 address or CIDR range/, /got null/]],
    ['malformed IP', 'BlockIp', [{ name: 'IP', value: '010.0.0.1' }], [/BlockIp parameter 'IP'/, /got '010.0.0.1'/]],
    ['malformed domain', 'BlockDomain', [{ name: 'Domain', value: 'evil' }], [/BlockDomain parameter 'Domain' must be a hostname/, /got 'evil'/]],
    ['malformed URL', 'BlockUrl', [{ name: 'Url', value: 'ftp://evil.example/' }], [/BlockUrl parameter 'Url' must be an absolute http or https URL/]],
    ['URL with credentials', 'BlockUrl', [{ name: 'url', value: 'https://u:p@evil.example/' }], [/without credentials/]],
    ['malformed hash', 'BlockFile', [{ name: 'FileHash', value: 'abc' }], [/BlockFile parameter 'FileHash' must be a hex MD5, SHA-1 or SHA-256 hash/, /got 'abc'/]],
    ['both expiries', 'BlockIp', [{ name: 'IP', value: '1.2.3.4' }, { name: 'Duration', value: 'PT1H' }, { name: 'ExpirationDateTime', value: '2030-01-01T00:00:00Z' }], [/BlockIp accepts either 'ExpirationDateTime' or 'Duration', not both/]],
    ['bad duration', 'BlockIp', [{ name: 'IP', value: '1.2.3.4' }, { name: 'Duration', value: '4 hours' }], [/BlockIp parameter 'Duration' must be a positive ISO 8601 duration of at most 10 years/, /PT4H/, /got '4 hours'/]],
    ['zero duration', 'BlockIp', [{ name: 'IP', value: '1.2.3.4' }, { name: 'Duration', value: 'PT0S' }], [/'Duration'/]],
    ['too long duration', 'BlockIp', [{ name: 'IP', value: '1.2.3.4' }, { name: 'Duration', value: 'P11Y' }], [/at most 10 years/]],
    ['null duration', 'BlockIp', [{ name: 'IP', value: '1.2.3.4' }, { name: 'Duration', value: null }], [/'Duration'/, /got null/]],
    ['past expiry', 'BlockIp', [{ name: 'IP', value: '1.2.3.4' }, { name: 'ExpirationDateTime', value: '2026-03-01T11:59:59Z' }], [/BlockIp parameter 'ExpirationDateTime' must be an ISO 8601 date-time with a time zone in the future/]],
    ['expiry equal to now', 'BlockIp', [{ name: 'IP', value: '1.2.3.4' }, { name: 'ExpirationDateTime', value: '2026-03-01T12:00:00Z' }], [/in the future/]],
    ['expiry without zone', 'BlockIp', [{ name: 'IP', value: '1.2.3.4' }, { name: 'ExpirationDateTime', value: '2030-01-10 12:23:23.33333' }], [/'ExpirationDateTime'/, /2030-01-01T00:00:00Z/, /got '2030-01-10 12:23:23.33333'/]],
  ])('%s', (_case, name, parameters, patterns) => {
    const error = failure(() => validate(name, parameters));
    expect(error.kind).toBe('badRequest');
    expect(error.code).toBe('InvalidAction');
    for (const pattern of patterns) expect(error.message).toMatch(pattern);
  });

  it('truncates and sanitises echoed values', () => {
    const error = failure(() => validate('BlockIp', [{ name: 'IP', value: `\u0007${'x'.repeat(500)}` }]));
    expect(error.message).toContain(`got '?${'x'.repeat(99)}…'`);
    expect(error.message.length).toBeLessThan(300);
    const named = failure(() => validate('x'.repeat(500), [{ name: 'IP', value: '1.2.3.4' }]));
    expect(named.message.length).toBeLessThan(250);
  });

  it('targets the offending member', () => {
    expect(failure(() => validate('Nope', [])).details.target).toBe('name');
    expect(failure(() => validate('BlockIp', [])).details.target).toBe('parameters');
    expect(failure(() => validate('BlockIp', [{ name: 'IP', value: '1.2.3.4' }, 5])).details.target).toBe('parameters[1]');
  });
});
