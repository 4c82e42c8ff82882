import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/storage/sql/database.js';
import { createSqlIdentityStore } from '../../src/storage/sql/identity-store.js';
import { backends } from '../helpers/backends.js';

/**
 * Processes starting at once on an empty database (`serve --api-processes N`, several nodes) each
 * try to create the first signing key: every one of them must start, and one key must exist.
 * On SQLite a read-then-insert transaction lost the race with "database is locked" (a transaction
 * that has read cannot take the write lock after another commit), and the process exited.
 */
for (const backend of backends()) {
  describe(`the first signing key, several processes at once (${backend.name})`, () => {
    it('every start succeeds and exactly one unretired key exists', async () => {
      const storage = await backend.fresh();
      const open = () => openDatabase({ dataDir: storage.dataDir, databaseUrl: storage.databaseUrl, schema: storage.databaseSchema, poolSize: 2 });
      const first = await open();
      const handles = [first, ...(await Promise.all(Array.from({ length: 3 }, open)))];
      try {
        for (let round = 0; round < 5; round++) {
          await first.db.deleteFrom('signing_keys').execute();
          const results = await Promise.allSettled(
            handles.map((h, i) =>
              createSqlIdentityStore(h.db, h.caps).insertFirstSigningKey({ kid: `k${round}-${i}`, alg: 'ES256', privateJwk: '{}', publicJwk: '{}', createdAt: Date.now(), retiredAt: null }),
            ),
          );
          expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
          const keys = await first.db.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).execute();
          expect(keys).toHaveLength(1);
        }
      } finally {
        for (const h of handles) await h.close();
        await storage.cleanup();
      }
    });
  });
}
