/**
 * Resolves a property path written in `$filter` against the whitelist in `property-map.ts`: the
 * securityAction properties outside a lambda, `<variable>/name` and `<variable>/value` inside
 * `parameters/any(<variable>: …)`. Nothing else can reach the AST.
 */
import type { PropertyRef } from './filter-literals.js';
import { errors, truncate } from '../domain/errors.js';
import {
  canonicalParameterProperty,
  canonicalProperty,
  parameterProperties,
  securityActionProperties,
} from './property-map.js';

/** A `/`-separated path as written, with the 1-based position of each segment. */
export interface Path {
  text: string;
  pos: number;
  segments: ReadonlyArray<{ text: string; pos: number }>;
}

/** Inside `parameters/any(p: …)`: the lambda variable, matched case-insensitively. */
export interface Scope {
  variable: string;
}

const filterable = Object.entries(securityActionProperties)
  .filter(([, info]) => info.filterable)
  .map(([path]) => path)
  .join(', ');

/** Looks `path` up for `$filter`; throws a 400 naming the path, its position and what is allowed. */
export function resolveFilterProperty(path: Path, scope: Scope | undefined): PropertyRef {
  const shown = truncate(path.text, 80);
  if (scope) {
    const v = scope.variable;
    const [head, member, ...rest] = path.segments;
    if (head?.text.toLowerCase() !== v.toLowerCase()) {
      throw errors.invalidQuery(
        `$filter: '${shown}' at position ${path.pos} cannot be used inside the lambda; only ${v}/name and ${v}/value are allowed.`,
      );
    }
    const canonical = member && rest.length === 0 ? canonicalParameterProperty(member.text) : undefined;
    const info = canonical === undefined ? undefined : parameterProperties[canonical];
    if (canonical === undefined || !info?.filterable) {
      throw errors.invalidQuery(
        `$filter: unknown property '${shown}' at position ${path.pos}. Inside the lambda, use ${v}/name or ${v}/value.`,
      );
    }
    return { path: canonical, display: path.text, info, pos: path.pos };
  }
  const canonical = canonicalProperty(path.text);
  const info = canonical === undefined ? undefined : securityActionProperties[canonical];
  if (canonical !== undefined && info?.filterable) return { path: canonical, display: path.text, info, pos: path.pos };
  if (path.text.toLowerCase() === 'parameters') {
    throw errors.invalidQuery(
      `$filter: 'parameters' at position ${path.pos} is a collection; filter it with parameters/any(p: p/name eq 'IP').`,
    );
  }
  throw errors.invalidQuery(`$filter: unknown property '${shown}' at position ${path.pos}. Filterable properties: ${filterable}.`);
}
