import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Client secrets and feed/agent tokens are 256-bit random values, so a plain SHA-256 is enough to
 * store them (no dictionary to attack, unlike passwords); comparison is constant-time.
 * See docs/decisions/0002-identity.md.
 */
export function generateSecret(prefix: string): string {
  return `${prefix}${randomBytes(32).toString('base64url')}`;
}

export function hashSecret(secret: string): string {
  return `sha256$${createHash('sha256').update(secret, 'utf8').digest('hex')}`;
}

export function secretMatches(secret: string, stored: string): boolean {
  const candidate = Buffer.from(hashSecret(secret));
  const expected = Buffer.from(stored);
  return candidate.length === expected.length && timingSafeEqual(candidate, expected);
}
