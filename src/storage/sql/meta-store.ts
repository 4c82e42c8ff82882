import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** Small key/value facts shared through the database (e.g. the public URL the CLI signs for). */
export function createSqlMetaStore(db: Kysely<Database>) {
  return {
    async get(key: string): Promise<string | undefined> {
      return (await db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst())?.value;
    },
    async set(key: string, value: string): Promise<void> {
      await db
        .insertInto('meta')
        .values({ key, value })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
        .execute();
    },
  };
}
