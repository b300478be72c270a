import type pg from "pg";

/**
 * Cutover and rollback exclude each other (and themselves) through a session advisory lock on
 * the target under this key: held as long as the command's control session lives, released if
 * it dies. A cutover or rollback that left its traces without holding it was interrupted.
 */
export const CUTOVER_LOCK_KEY = "pgferry:cutover";

/** True while some session holds the cutover lock (a cutover or rollback runs). */
export async function cutoverLockHeld(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ held: boolean }>(
    `select exists (select 1 from pg_locks
                     where locktype = 'advisory' and objsubid = 1 and granted
                       and database = (select oid from pg_database where datname = current_database())
                       and ((classid::int8 << 32) | objid::int8) = hashtext($1)::int8) as held`,
    [CUTOVER_LOCK_KEY],
  );
  return rows[0]?.held === true;
}
