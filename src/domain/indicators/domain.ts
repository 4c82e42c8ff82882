import { domainToASCII } from 'node:url';

/** What {@link normalizeHostname} accepts beyond a plain multi-label hostname. */
export interface HostnameOptions {
  /** Accept `*.` as the whole leftmost label (a block of every strict subdomain). */
  wildcard: boolean;
  /** 2 for indicators (a single label would block a TLD); 1 for configured names like `localhost`. */
  minLabels: 1 | 2;
}

const maxLength = 253; // RFC 1035 §2.3.4, without the root's trailing dot
// LDH (RFC 1123 §2.1) plus `_`: real malware and service names (`_dmarc`, `a_b.example`) use it.
const labelPattern = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
// Characters the WHATWG host parser would rewrite rather than refuse (`%61` → `a`), so we refuse
// them first; non-ASCII is left to IDNA mapping.
const forbiddenAscii = /[^A-Za-z0-9._\-\u0080-\u{10FFFF}]/u;

/**
 * Normalises a domain indicator: trims, drops one trailing dot, converts IDN to punycode
 * (`bücher.example` → `xn--bcher-kva.example`), lower-cases, and checks label syntax (1–63 chars
 * of letters, digits, `-`, `_`, no leading or trailing hyphen), total length ≤ 253, at least two
 * labels, and a last label that is not all digits (so an IPv4 address is never a domain).
 * `*.example.com` is accepted: it blocks strict subdomains only.
 * @returns the canonical form, or `undefined` when the text is not a valid domain.
 */
export function normalizeDomain(text: string): string | undefined {
  return normalizeHostname(text, { wildcard: true, minLabels: 2 });
}

/** {@link normalizeDomain} with the wildcard and label-count rules chosen by the caller. */
export function normalizeHostname(text: string, options: HostnameOptions): string | undefined {
  let name = text.trim();
  if (name.endsWith('.')) name = name.slice(0, -1);
  const wildcard = name.startsWith('*.');
  if (wildcard && !options.wildcard) return undefined;
  const base = wildcard ? name.slice(2) : name;
  if (base === '' || forbiddenAscii.test(base)) return undefined;
  const ascii = domainToASCII(base);
  if (ascii === '') return undefined;
  const labels = ascii.split('.');
  if (labels.length < options.minLabels || !labels.every((label) => labelPattern.test(label))) return undefined;
  if (/^[0-9]+$/.test(labels.at(-1) ?? '')) return undefined;
  const normalized = wildcard ? `*.${ascii}` : ascii;
  return normalized.length <= maxLength ? normalized : undefined;
}

/**
 * Whether blocking `blocked` also blocks `other` (both normalised). A plain domain covers itself
 * and every subdomain, because the RPZ zone holds both `example.com` and `*.example.com`; a
 * wildcard `*.example.com` covers strict subdomains only. `other` may itself be a wildcard, in
 * which case it is covered when all of its names are.
 */
export function domainCovers(blocked: string, other: string): boolean {
  if (blocked.startsWith('*.')) return other.endsWith(blocked.slice(1));
  return other === blocked || other.endsWith(`.${blocked}`);
}

/**
 * The name itself followed by each ancestor, nearest first: `a.b.c` → `a.b.c`, `b.c`, `c`.
 * A leading `*.` is dropped. Lets callers index names by suffix instead of scanning lists.
 */
export function domainAncestry(name: string): string[] {
  const labels = (name.startsWith('*.') ? name.slice(2) : name).split('.');
  return labels.map((_, i) => labels.slice(i).join('.'));
}
