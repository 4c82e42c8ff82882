import { errors } from '../../domain/errors.js';
import type { CreateActionInput } from '../../services/action-service.js';

/** Properties the server sets; values a client sends for them are ignored (round-tripping a GET works). */
const serverSet = new Set([
  'id', 'status', 'states', 'appId', 'azureTenantId', 'user', 'createdDateTime', 'lastActionDateTime',
  'completedDateTime', 'errorInfo', 'cancelledDateTime', 'expirationDateTime',
]);
const clientSet = new Set(['name', 'parameters', 'actionReason', 'clientContext', 'vendorInformation']);

export const limits = { actionReason: 4096, clientContext: 256, vendorField: 256, extraBytes: 16 * 1024, extraKeys: 64, extraDepth: 8 } as const;

const extraKeyPattern = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;
const controlChars = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Parses a create body into service input, checking JSON types; catalogue rules live in the domain. */
export function parseCreateBody(body: unknown): CreateActionInput {
  if (body === undefined) throw errors.badRequest('The request body is empty; send a securityAction JSON object.');
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw errors.badRequest('The request body must be a JSON object (a securityAction).');
  }
  const o = body as Record<string, unknown>;
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(o)) {
    if (clientSet.has(key) || serverSet.has(key) || key.startsWith('@')) continue;
    if (!extraKeyPattern.test(key)) throw errors.badRequest(`The property name '${key.slice(0, 60)}' is not allowed.`, key.slice(0, 60));
    checkExtraValue(value, key, 0);
    extra[key] = value;
  }
  const extraKeys = Object.keys(extra).length;
  if (extraKeys > limits.extraKeys) throw errors.badRequest(`At most ${limits.extraKeys} additional properties are allowed; got ${extraKeys}.`);
  if (extraKeys > 0 && JSON.stringify(extra).length > limits.extraBytes) {
    throw errors.badRequest(`Additional (open-type) properties may total at most ${limits.extraBytes} bytes of JSON.`);
  }
  return {
    name: o['name'],
    parameters: o['parameters'],
    actionReason: optionalText(o['actionReason'], 'actionReason', limits.actionReason, true),
    clientContext: optionalText(o['clientContext'], 'clientContext', limits.clientContext, false),
    vendorInformation: parseVendorInformation(o['vendorInformation']),
    extra,
  };
}

function parseVendorInformation(v: unknown): CreateActionInput['vendorInformation'] {
  if (v === undefined || v === null) return { provider: null, subProvider: null, providerVersion: null };
  if (typeof v !== 'object' || Array.isArray(v)) throw errors.badRequest("'vendorInformation' must be an object.", 'vendorInformation');
  const o = v as Record<string, unknown>;
  for (const k of ['vendor']) optionalText(o[k], `vendorInformation/${k}`, limits.vendorField, false);
  return {
    provider: optionalText(o['provider'], 'vendorInformation/provider', limits.vendorField, false),
    subProvider: optionalText(o['subProvider'], 'vendorInformation/subProvider', limits.vendorField, false),
    providerVersion: optionalText(o['providerVersion'], 'vendorInformation/providerVersion', limits.vendorField, false),
  };
}

function optionalText(v: unknown, name: string, max: number, multiline: boolean): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw errors.badRequest(`'${name}' must be a string.`, name);
  if (v.length > max) throw errors.badRequest(`'${name}' can have a maximum of ${max} characters; got ${v.length}.`, name);
  if ((multiline ? controlChars : /[\u0000-\u001f\u007f]/).test(v) || loneSurrogate.test(v)) {
    throw errors.badRequest(`'${name}' contains control characters or invalid Unicode.`, name);
  }
  return v;
}

function checkExtraValue(v: unknown, key: string, depth: number): void {
  if (depth > limits.extraDepth) throw errors.badRequest(`The property '${key}' is nested more than ${limits.extraDepth} levels deep.`, key);
  if (typeof v === 'string') {
    if (controlChars.test(v) || loneSurrogate.test(v)) throw errors.badRequest(`The property '${key}' contains control characters or invalid Unicode.`, key);
    return;
  }
  if (v === null || typeof v !== 'object') return;
  // Nested member names are text too: the same rules as string values.
  if (!Array.isArray(v)) for (const name of Object.keys(v)) checkExtraValue(name, key, depth);
  for (const child of Array.isArray(v) ? v : Object.values(v)) checkExtraValue(child, key, depth + 1);
}
