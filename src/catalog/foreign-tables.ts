import type pg from "pg";
import { SYSTEM_SCHEMAS } from "./tables.js";

/**
 * The source's foreign tables. They are never copied (their rows live on another server), but
 * the schema creates them on the target unless --tables/--exclude leave them out: check and
 * start must leave out the same ones (issue 12: check honoured --exclude, start did not).
 */
export async function listForeignTables(client: pg.ClientBase): Promise<{ schema: string; name: string }[]> {
  const { rows } = await client.query<{ schema: string; name: string }>(
    `select n.nspname as schema, c.relname as name from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      where c.relkind = 'f' and n.nspname <> all ($1::text[]) and n.nspname not like 'pg\\_%'
      order by 1, 2`,
    [SYSTEM_SCHEMAS],
  );
  return rows;
}
