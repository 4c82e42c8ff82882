import { describe, expect, it } from 'vitest';
import { normalizeFileHash } from '../../src/domain/indicators/file-hash.js';

const md5 = 'd41d8cd98f00b204e9800998ecf8427e';
const sha1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
const sha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('normalizeFileHash', () => {
  it.each([
    [md5, 'md5', md5],
    [md5.toUpperCase(), 'md5', md5],
    [sha1, 'sha1', sha1],
    [sha1.toUpperCase(), 'sha1', sha1],
    [sha256, 'sha256', sha256],
    [` ${sha256.toUpperCase()} `, 'sha256', sha256],
  ])('%s → %s', (input, type, value) => {
    expect(normalizeFileHash(input)).toEqual({ type, value });
  });

  it.each([
    '',
    md5.slice(1),
    `${md5}0`,
    `${sha256}0`,
    'a'.repeat(48),
    'a'.repeat(128), // SHA-512 is not accepted
    `${md5.slice(1)}g`,
    `0x${md5.slice(2)}`,
    `${md5.slice(0, 16)} ${md5.slice(16)}`,
    `md5:${md5}`,
  ])('rejects %j', (input) => {
    expect(normalizeFileHash(input)).toBeUndefined();
  });
});
