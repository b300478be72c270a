import type pg from "pg";
import type { ConnectionBudget, Findings } from "./types.js";

// reserved_connections (PG16+) keeps slots for pg_use_reserved_connections members; the two-argument
// current_setting returns null where it does not exist. This session is counted: it ends before start.
const BUDGET_SQL = `
select current_setting('max_connections')::int as max_connections,
       current_setting('superuser_reserved_connections')::int as su_reserved,
       coalesce(current_setting('reserved_connections', true)::int, 0) as reserved,
       (select rolsuper from pg_roles where rolname = current_user) as superuser,
       (select count(*) from pg_stat_activity where backend_type = 'client backend')::int - 1 as in_use,
       (select datconnlimit from pg_database where datname = current_database()) as db_limit,
       (select count(*) from pg_stat_activity where backend_type = 'client backend' and datname = current_database())::int - 1 as db_in_use,
       (select rolconnlimit from pg_roles where rolname = current_user) as role_limit,
       (select count(*) from pg_stat_activity where backend_type = 'client backend' and usename = current_user)::int - 1 as role_in_use`;

/** Computes the free connection slots for pgferry: the server's, the database's and the role's limits. */
export async function connectionBudget(client: pg.ClientBase, needed: number): Promise<ConnectionBudget> {
  const r = (await client.query(BUDGET_SQL)).rows[0];
  const reserved = r.superuser ? 0 : r.su_reserved + r.reserved;
  const limits: [string, number][] = [["server", r.max_connections - reserved - r.in_use]];
  if (r.db_limit >= 0) limits.push(["database", r.db_limit - r.db_in_use]);
  if (r.role_limit >= 0) limits.push(["role", r.role_limit - r.role_in_use]);
  const [limitedBy, available] = limits.reduce((a, b) => (b[1] < a[1] ? b : a));
  return {
    maxConnections: r.max_connections,
    reserved,
    inUse: r.in_use,
    available: Math.max(0, available),
    needed,
    limitedBy,
  };
}

/** A shortfall is a blocker; leaving the application fewer than ~10% of the slots is a warning. */
export function reportBudget(
  side: "source" | "target",
  b: ConnectionBudget,
  jobs: number,
  findings: Findings,
): void {
  const where = b.limitedBy === "server" ? "the server" : `the ${b.limitedBy}'s connection limit`;
  const state = `${b.available} free (max_connections ${b.maxConnections}, ${b.reserved} reserved, ${b.inUse} in use; limited by ${where})`;
  if (b.available < b.needed) {
    findings.blocker({
      code: "CONNECTION_BUDGET",
      side,
      message: `pgferry needs ${b.needed} connections to the ${side} (--jobs ${jobs} + 3), but only ${state}.`,
      fix: `Lower --jobs to ${Math.max(1, b.available - 3)} or less${b.available - 3 < 1 ? " after freeing connections (stop idle workers or a connection pooler's spare pool)" : ""}, or raise the limit.`,
    });
    return;
  }
  const spare = b.available - b.needed;
  if (spare < Math.max(5, Math.ceil(b.maxConnections / 10))) {
    findings.warning({
      code: "CONNECTION_BUDGET_TIGHT",
      side,
      message: `With pgferry's ${b.needed} connections, only ${spare} of the ${side}'s connection slots stay free for the application (${state}).`,
      fix: "Lower --jobs, or make sure the application's pool cannot grow during the migration.",
    });
  }
}
