import os from "node:os";
import type pg from "pg";

/**
 * Source connections pgferry holds besides its copy workers; `start` never holds more than
 * jobs + this many (capConnections): while copying, index builds compare definitions with the
 * source; while streaming, the coordinator and the heartbeat, jobs appliers, and room for a
 * stall probe (a short session, only after silence on a session that waits on its server).
 */
export const EXTRA_CONNECTIONS = 3;

/** What check promises and `start` holds to: the most source sessions a start opens. */
export function sourceConnectionBudget(jobs: number): number {
  return jobs + EXTRA_CONNECTIONS;
}

export interface ConnectionSlots {
  maxConnections: number;
  reserved: number;
  inUse: number;
  /** Slots left for pgferry: server, database and role limits taken together. */
  available: number;
  /** What limits `available` most: "server", "database" or "role". */
  limitedBy: "server" | "database" | "role";
}

// reserved_connections (PG16+) keeps slots for pg_use_reserved_connections members; the two-argument
// current_setting returns null where it does not exist. The asking session is not counted: it is
// pgferry's own and ends (check) or is one of the connections already planned for (start).
const SLOTS_SQL = `
select current_setting('max_connections')::int as max_connections,
       current_setting('superuser_reserved_connections')::int as su_reserved,
       coalesce(current_setting('reserved_connections', true)::int, 0) as reserved,
       (select rolsuper from pg_roles where rolname = current_user) as superuser,
       (select count(*) from pg_stat_activity where backend_type = 'client backend')::int - 1 as in_use,
       (select datconnlimit from pg_database where datname = current_database()) as db_limit,
       (select count(*) from pg_stat_activity where backend_type = 'client backend' and datname = current_database())::int - 1 as db_in_use,
       (select rolconnlimit from pg_roles where rolname = current_user) as role_limit,
       (select count(*) from pg_stat_activity where backend_type = 'client backend' and usename = current_user)::int - 1 as role_in_use`;

/** A row of SLOTS_SQL: every count cast to int4, so numbers; the limits are -1 for none. */
interface SlotsRow {
  max_connections: number;
  su_reserved: number;
  reserved: number;
  superuser: boolean;
  in_use: number;
  db_limit: number;
  db_in_use: number;
  role_limit: number;
  role_in_use: number;
}

/** The free connection slots of the connected server for this role and database. */
export async function connectionSlots(client: pg.ClientBase): Promise<ConnectionSlots> {
  const r = (await client.query<SlotsRow>(SLOTS_SQL)).rows[0]!;
  const reserved = r.superuser ? 0 : r.su_reserved + r.reserved;
  const limits: [ConnectionSlots["limitedBy"], number][] = [
    ["server", r.max_connections - reserved - r.in_use],
  ];
  if (r.db_limit >= 0) limits.push(["database", r.db_limit - r.db_in_use]);
  if (r.role_limit >= 0) limits.push(["role", r.role_limit - r.role_in_use]);
  const [limitedBy, available] = limits.reduce((a, b) => (b[1] < a[1] ? b : a));
  return {
    maxConnections: r.max_connections,
    reserved,
    inUse: r.in_use,
    available: Math.max(0, available),
    limitedBy,
  };
}

/**
 * Copy workers when --jobs is not given: one per core (each worker mostly waits on the two
 * servers, so at least 2), at most 8, and never more than half of the source's free
 * connection slots: the application, the stream stage and a second pgferry need room too.
 */
export function defaultJobs(freeConnections: number, cores = os.availableParallelism()): number {
  return Math.max(1, Math.min(Math.max(2, cores), 8, Math.floor(freeConnections / 2)));
}

/**
 * Index builds are CPU- and I/O-bound on the target: half the cores, 2 to 4. At least two, so
 * the tail after the copy (the biggest table's indexes) never runs alone while another
 * table's wait: with one, the bench lost end to end to pg_restore -j on two cores.
 */
export function defaultIndexJobs(cores = os.availableParallelism()): number {
  return Math.max(2, Math.min(4, Math.floor(cores / 2)));
}
