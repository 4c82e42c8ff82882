/** The file hash algorithms a `BlockFile` action accepts, told apart by digest length. */
export type FileHashType = 'md5' | 'sha1' | 'sha256';

export interface FileHash {
  type: FileHashType;
  /** lower-case hex */
  value: string;
}

const typeByHexLength: ReadonlyMap<number, FileHashType> = new Map([
  [32, 'md5'],
  [40, 'sha1'],
  [64, 'sha256'],
]);

/**
 * Recognises a hex MD5 (32 digits), SHA-1 (40) or SHA-256 (64) digest, case-insensitively, with
 * outer whitespace trimmed; the value is returned in lower case so equal hashes compare equal.
 */
export function normalizeFileHash(text: string): FileHash | undefined {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]+$/.test(hex)) return undefined;
  const type = typeByHexLength.get(hex.length);
  return type && { type, value: hex.toLowerCase() };
}
