import { normalizeHostname } from './domain.js';
import { parseIpOrCidr } from './ip.js';

/** Longest URL accepted, before and after normalisation (the de-facto limit of browsers and proxies). */
export const maxUrlLength = 2048;

/**
 * Normalises a URL indicator with the WHATWG URL parser, then narrows what it accepts:
 * - absolute `http://` or `https://` only, written with both slashes;
 * - no whitespace or control characters anywhere (WHATWG silently deletes tabs and newlines);
 * - no credentials (`user:pass@` would leak into every feed that publishes the URL);
 * - a host that is an IP literal or a hostname by {@link normalizeHostname}'s rules, without a
 *   wildcard (WHATWG allows `*`, `!` and friends in hosts; DNS and firewalls do not);
 * - at most {@link maxUrlLength} characters.
 *
 * The host is lower-cased and punycoded, numeric IPv4 forms become dotted (`0x7f.1` → `127.0.0.1`),
 * default ports, the trailing dot of the host and the fragment are dropped.
 * @see https://url.spec.whatwg.org/#concept-basic-url-parser
 */
export function normalizeUrl(text: string): string | undefined {
  const trimmed = text.trim();
  if (trimmed.length > maxUrlLength || !/^https?:\/\//i.test(trimmed)) return undefined;
  if (/[\u0000-\u0020\u007f]/.test(trimmed)) return undefined;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '') return undefined;
  if (!url.hostname.startsWith('[') && parseIpOrCidr(url.hostname) === undefined) {
    const host = normalizeHostname(url.hostname, { wildcard: false, minLabels: 2 });
    if (host === undefined) return undefined;
    url.hostname = host;
  }
  url.hash = '';
  const normalized = url.href;
  return normalized.length <= maxUrlLength ? normalized : undefined;
}

/**
 * The host of a normalised URL, without port and without the brackets of an IPv6 literal, so it
 * can be handed to `parseIpOrCidr` or compared with domains.
 */
export function urlHost(url: string): string {
  const hostname = new URL(url).hostname;
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
}

/**
 * A normalised URL in the entry format of Palo Alto external dynamic lists (type URL) and
 * FortiGate URL lists: no scheme, then host, path and query, e.g.
 * `https://Evil.example/a?b=1#x` → `evil.example/a?b=1`.
 *
 * Both products match URL entries regardless of scheme, so `http` and `https` blocks of the same
 * URL collapse into one entry. The port is dropped because neither format carries one; the entry
 * then blocks that path on every port, which errs towards blocking. The root path keeps its `/`
 * (`evil.example/`), the conventional spelling of "this host" in both products' lists.
 * @see https://docs.paloaltonetworks.com/pan-os/11-1/pan-os-admin/policy/use-an-external-dynamic-list-in-policy/formatting-guidelines-for-an-external-dynamic-list
 */
export function toEdlUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}${parsed.pathname}${parsed.search}`;
}
