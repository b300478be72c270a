import os from "node:os";
import type pg from "pg";

/** Free connection slots on the source for this role: the server's budget and the role's limit. */
export async function freeSourceConnections(source: pg.ClientBase): Promise<number> {
  const { rows } = await source.query<{ free: number }>(
    `select greatest(0, least(
        current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
          - (select count(*) from pg_stat_activity where backend_type = 'client backend'),
        case when r.rolconnlimit >= 0
             then r.rolconnlimit - (select count(*) from pg_stat_activity where usename = current_user)
             else 2147483647 end))::int as free
       from pg_roles r where r.rolname = current_user`,
  );
  return rows[0]?.free ?? 0;
}

/**
 * Copy workers when --jobs is not given: one per core (each worker mostly waits on the two
 * servers, so at least 2), at most 8, and never more than half of the source's free
 * connection slots: the application, the stream stage and a second pgferry need room too.
 */
export function defaultJobs(freeConnections: number, cores = os.availableParallelism()): number {
  return Math.max(1, Math.min(Math.max(2, cores), 8, Math.floor(freeConnections / 2)));
}

/** Index builds are CPU- and I/O-bound on the target: half the cores, 1 to 4. */
export function defaultIndexJobs(cores = os.availableParallelism()): number {
  return Math.max(1, Math.min(4, Math.floor(cores / 2)));
}
