/**
 * The securityAction properties that `$filter`, `$orderby` and `$select` may name. A whitelist:
 * nothing else can reach a query. Keys are canonical OData paths.
 */
export type PropertyKind = 'string' | 'dateTimeOffset' | 'status';

export interface PropertyInfo {
  kind: PropertyKind;
  filterable: boolean;
  sortable: boolean;
}

const s = (kind: PropertyKind): PropertyInfo => ({ kind, filterable: true, sortable: true });

export const securityActionProperties: Readonly<Record<string, PropertyInfo>> = {
  id: s('string'),
  name: s('string'),
  status: s('status'),
  actionReason: s('string'),
  appId: s('string'),
  azureTenantId: s('string'),
  clientContext: s('string'),
  user: s('string'),
  createdDateTime: s('dateTimeOffset'),
  lastActionDateTime: s('dateTimeOffset'),
  completedDateTime: s('dateTimeOffset'),
  cancelledDateTime: s('dateTimeOffset'),
  expirationDateTime: s('dateTimeOffset'),
  'vendorInformation/provider': s('string'),
  'vendorInformation/vendor': s('string'),
  'vendorInformation/subProvider': s('string'),
  'vendorInformation/providerVersion': s('string'),
};

/** Properties inside the `parameters` lambda (`keyValuePair`). */
export const parameterProperties: Readonly<Record<string, PropertyInfo>> = {
  name: s('string'),
  value: s('string'),
};

/** Top-level properties `$select` accepts (the entity's wire names). */
export const selectableProperties: readonly string[] = [
  'id', 'name', 'status', 'actionReason', 'appId', 'azureTenantId', 'clientContext', 'user',
  'createdDateTime', 'lastActionDateTime', 'completedDateTime', 'cancelledDateTime', 'expirationDateTime',
  'errorInfo', 'parameters', 'states', 'vendorInformation',
];

const lowerIndex = new Map(Object.keys(securityActionProperties).map((k) => [k.toLowerCase(), k]));
const lowerParamIndex = new Map(Object.keys(parameterProperties).map((k) => [k.toLowerCase(), k]));
const lowerSelect = new Map(selectableProperties.map((k) => [k.toLowerCase(), k]));

/** Case-insensitive lookup of a property path; returns the canonical path. */
export function canonicalProperty(path: string): string | undefined {
  return lowerIndex.get(path.toLowerCase());
}
export function canonicalParameterProperty(path: string): string | undefined {
  return lowerParamIndex.get(path.toLowerCase());
}
export function canonicalSelectable(path: string): string | undefined {
  return lowerSelect.get(path.toLowerCase());
}
