/**
 * A normalized indicator of compromise: what one action blocks. `value` is canonical (CIDR
 * network address, punycode lower-case hostname, normalized URL, lower-case hex hash) so equal
 * indicators compare equal as strings, which the overlap counting relies on.
 */
export type IndicatorType = 'ip' | 'domain' | 'url' | 'md5' | 'sha1' | 'sha256';

export interface Indicator {
  type: IndicatorType;
  value: string;
}

export const indicatorTypes: readonly IndicatorType[] = ['ip', 'domain', 'url', 'md5', 'sha1', 'sha256'];
