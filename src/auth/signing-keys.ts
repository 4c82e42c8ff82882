import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import type { IdentityStore, SigningKeyRecord } from '../storage/ports.js';

export const signingAlgorithm = 'RS256';

export interface ActiveKey {
  kid: string;
  alg: string;
  key: Awaited<ReturnType<typeof importJWK>>;
}

/**
 * The issuer's keys live in the database so every node (and the CLI) signs and verifies with the
 * same set. The oldest unretired key signs; all unretired keys are published in the JWKS. The first
 * key is created under a lock, so nodes starting together on an empty database share one.
 */
export class SigningKeys {
  private active?: ActiveKey;
  private publicJwks: JWK[] = [];
  private loadedAt = 0;

  constructor(private readonly store: IdentityStore, private readonly now: () => number = Date.now) {}

  async ensure(): Promise<void> {
    let keys = (await this.store.signingKeys()).filter((k) => k.retiredAt === null);
    if (keys.length === 0) {
      await this.store.insertFirstSigningKey(await newKey(this.now()));
      keys = (await this.store.signingKeys()).filter((k) => k.retiredAt === null);
    }
    await this.load(keys);
  }

  /** Re-reads the key set, at most once per `minIntervalMs` (used when a token names an unknown kid). */
  async refresh(minIntervalMs = 1_000): Promise<void> {
    if (this.now() - this.loadedAt < minIntervalMs) return;
    await this.load((await this.store.signingKeys()).filter((k) => k.retiredAt === null));
  }

  signingKey(): ActiveKey {
    if (!this.active) throw new Error('signing keys not loaded; call ensure() first');
    return this.active;
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.publicJwks };
  }

  private async load(keys: SigningKeyRecord[]): Promise<void> {
    const first = keys[0];
    if (!first) throw new Error('no signing key available');
    this.active = { kid: first.kid, alg: first.alg, key: await importJWK(JSON.parse(first.privateJwk) as JWK, first.alg) };
    this.publicJwks = keys.map((k) => ({ ...(JSON.parse(k.publicJwk) as JWK), kid: k.kid, alg: k.alg, use: 'sig' }));
    this.loadedAt = this.now();
  }
}

async function newKey(at: number): Promise<SigningKeyRecord> {
  const { privateKey, publicKey } = await generateKeyPair(signingAlgorithm, { extractable: true, modulusLength: 2048 });
  const kid = randomUUID();
  return {
    kid,
    alg: signingAlgorithm,
    privateJwk: JSON.stringify(await exportJWK(privateKey)),
    publicJwk: JSON.stringify(await exportJWK(publicKey)),
    createdAt: at,
    retiredAt: null,
  };
}
