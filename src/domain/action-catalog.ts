/**
 * The catalogue of securityAction names Bulwark enforces and the parameters each takes. Graph
 * documents only `BlockIp` with parameter `IP` (reference §3); the other names are ours, in the
 * same style. Names match case-insensitively because Graph's own examples send `BlockIp` and echo
 * `blockIp`; responses always use the canonical spelling below.
 */
import { addIsoDuration, maxExpiryYears, parseUtcDateTime } from './duration.js';
import { errors, truncate } from './errors.js';
import { normalizeDomain } from './indicators/domain.js';
import { normalizeFileHash } from './indicators/file-hash.js';
import type { Indicator } from './indicators/indicator.js';
import { normalizeIpOrCidr } from './indicators/ip.js';
import { normalizeUrl } from './indicators/url.js';
import type { KeyValuePair } from './security-action.js';

export const actionNames = ['BlockIp', 'BlockDomain', 'BlockUrl', 'BlockFile'] as const;
export type ActionName = (typeof actionNames)[number];

/** One action: the parameter naming its indicator and how that parameter's value is read. */
export interface ActionDefinition {
  name: ActionName;
  /** Canonical name of the required indicator parameter, e.g. `IP`. */
  indicatorParameter: string;
  /** What the indicator parameter accepts, phrased for error messages. */
  accepts: string;
  /** Normalises the indicator parameter's value; `undefined` when it is malformed. */
  parse(value: string): Indicator | undefined;
}

/** The result of {@link validateAction}: canonical names and values, ready to store. */
export interface ValidatedAction {
  name: ActionName;
  parameters: KeyValuePair[];
  indicator: Indicator;
  /** epoch ms, or `null` when the action never expires */
  expiresAt: number | null;
}

const definitions: Record<ActionName, ActionDefinition> = {
  BlockIp: {
    name: 'BlockIp',
    indicatorParameter: 'IP',
    accepts: 'an IPv4 or IPv6 address or CIDR range, e.g. 203.0.113.7, 2001:db8::1 or 198.51.100.0/24',
    parse: (value) => indicatorOf('ip', normalizeIpOrCidr(value)),
  },
  BlockDomain: {
    name: 'BlockDomain',
    indicatorParameter: 'Domain',
    accepts: 'a hostname with at least two labels, e.g. evil.example, or *.evil.example for its subdomains only',
    parse: (value) => indicatorOf('domain', normalizeDomain(value)),
  },
  BlockUrl: {
    name: 'BlockUrl',
    indicatorParameter: 'Url',
    accepts: 'an absolute http or https URL without credentials, at most 2048 characters, e.g. https://evil.example/payload',
    parse: (value) => indicatorOf('url', normalizeUrl(value)),
  },
  BlockFile: {
    name: 'BlockFile',
    indicatorParameter: 'FileHash',
    accepts: 'a hex MD5, SHA-1 or SHA-256 hash (32, 40 or 64 hex digits)',
    parse: (value) => normalizeFileHash(value),
  },
};

const expirationDateTime = 'ExpirationDateTime';
const duration = 'Duration';
const byLowerCase = new Map(actionNames.map((name) => [name.toLowerCase(), definitions[name]]));
const maxParameters = 16;

/** Case-insensitive lookup of an action name. */
export function findActionDefinition(name: string): ActionDefinition | undefined {
  return byLowerCase.get(name.toLowerCase());
}

/**
 * Checks a client's `name` and `parameters` against the catalogue and normalises them.
 * `parameters` is a non-empty array (at most 16) of `{ name, value }`, other keys ignored; it must
 * hold the action's indicator parameter and may hold either `ExpirationDateTime` (ISO 8601 with a
 * zone, after `now`) or `Duration` (ISO 8601, e.g. `PT4H`, counted from `now`).
 * @throws BulwarkError `invalidAction` naming the offending action or parameter and what is accepted.
 */
export function validateAction(input: { name: unknown; parameters: unknown }, now: number): ValidatedAction {
  const definition = typeof input.name === 'string' ? findActionDefinition(input.name) : undefined;
  if (!definition) {
    const got = typeof input.name === 'string' ? `'${truncate(input.name, 80)}'` : 'not a string';
    throw errors.invalidAction(`The action name ${got} is not supported; accepted names: ${actionNames.join(', ')}.`, 'name');
  }
  const action = definition.name;
  const accepted = [definition.indicatorParameter, expirationDateTime, duration];
  const acceptedText = `accepted parameters for ${action}: ${accepted.join(', ')}`;
  const pairs = readPairs(input.parameters, action, acceptedText);

  const seen = new Map<string, KeyValuePair>();
  for (const pair of pairs) {
    const canonical = accepted.find((p) => p.toLowerCase() === pair.name.toLowerCase());
    if (canonical === undefined) {
      throw errors.invalidAction(`${action} does not accept the parameter '${truncate(pair.name, 80)}'; ${acceptedText}.`, 'parameters');
    }
    if (seen.has(canonical)) {
      throw errors.invalidAction(`${action} parameter '${canonical}' is given more than once; give each parameter once.`, 'parameters');
    }
    seen.set(canonical, { name: canonical, value: pair.value });
  }

  const indicatorPair = seen.get(definition.indicatorParameter);
  if (!indicatorPair) {
    throw errors.invalidAction(`${action} requires the parameter '${definition.indicatorParameter}': ${definition.accepts}.`, 'parameters');
  }
  const indicator = indicatorPair.value === null ? undefined : definition.parse(indicatorPair.value);
  if (!indicator) throw malformed(action, indicatorPair, definition.accepts);
  indicatorPair.value = indicator.value;

  const expiresAt = resolveExpiry(action, seen.get(expirationDateTime), seen.get(duration), now);
  return { name: action, parameters: [...seen.values()], indicator, expiresAt };
}

function readPairs(parameters: unknown, action: ActionName, acceptedText: string): KeyValuePair[] {
  if (!Array.isArray(parameters) || parameters.length === 0 || parameters.length > maxParameters) {
    throw errors.invalidAction(
      `${action} requires 'parameters' to be an array of 1 to ${maxParameters} {name, value} pairs; ${acceptedText}.`,
      'parameters',
    );
  }
  return parameters.map((item: unknown, i) => {
    const pair = typeof item === 'object' && item !== null && !Array.isArray(item) ? (item as Record<string, unknown>) : undefined;
    if (pair === undefined || typeof pair['name'] !== 'string' || !(typeof pair['value'] === 'string' || pair['value'] === null)) {
      throw errors.invalidAction(
        `parameters[${i}] of ${action} must be an object with a string 'name' and a string or null 'value'.`,
        `parameters[${i}]`,
      );
    }
    return { name: pair['name'], value: pair['value'] };
  });
}

/** Resolves the optional expiry parameters, re-rendering them canonically in place. */
function resolveExpiry(action: ActionName, at: KeyValuePair | undefined, after: KeyValuePair | undefined, now: number): number | null {
  if (at && after) {
    throw errors.invalidAction(`${action} accepts either '${expirationDateTime}' or '${duration}', not both.`, 'parameters');
  }
  if (at) {
    const accepts = 'an ISO 8601 date-time with a time zone in the future, e.g. 2030-01-01T00:00:00Z';
    const ms = at.value === null ? undefined : parseUtcDateTime(at.value);
    if (ms === undefined || ms <= now) throw malformed(action, at, accepts);
    at.value = new Date(ms).toISOString();
    return ms;
  }
  if (after) {
    const accepts = `a positive ISO 8601 duration of at most ${maxExpiryYears} years, e.g. PT4H, P7D or P1M`;
    const ms = after.value === null ? undefined : addIsoDuration(now, after.value);
    if (ms === undefined) throw malformed(action, after, accepts);
    after.value = after.value?.toUpperCase() ?? null;
    return ms;
  }
  return null;
}

function malformed(action: ActionName, pair: KeyValuePair, accepts: string) {
  const got = pair.value === null ? 'null' : `'${truncate(pair.value, 100)}'`;
  return errors.invalidAction(`${action} parameter '${pair.name}' must be ${accepts}; got ${got}.`, 'parameters');
}

function indicatorOf(type: 'ip' | 'domain' | 'url', value: string | undefined): Indicator | undefined {
  return value === undefined ? undefined : { type, value };
}
