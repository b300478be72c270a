import type pg from "pg";
import { type ConnInfo, connect, fromDriverError } from "../db/index.js";
import type { PgferryError } from "../errors/index.js";
import type { Findings, ServerSummary } from "./types.js";

/** Check reads only; every statement is short, and nothing should queue long behind a lock. */
const SESSION = { stage: "check", statementTimeoutMs: 60_000, lockTimeoutMs: 5_000 } as const;

export interface Sides {
  source: pg.Client;
  target: pg.Client;
}

/**
 * Opens one session per side. A side that cannot be reached is an error of the check itself
 * (thrown, naming the side), not a finding; the source's error wins when both fail.
 */
export async function openSides(source: ConnInfo, target: ConnInfo): Promise<Sides> {
  const [s, t] = await Promise.allSettled([connect(source, SESSION), connect(target, SESSION)]);
  if (s.status === "fulfilled" && t.status === "fulfilled") {
    return { source: tagErrors(s.value, source), target: tagErrors(t.value, target) };
  }
  if (s.status === "fulfilled") await s.value.end().catch(() => {});
  if (t.status === "fulfilled") await t.value.end().catch(() => {});
  throw s.status === "rejected" ? s.reason : (t as PromiseRejectedResult).reason;
}

export async function closeSides(sides: Sides): Promise<void> {
  await Promise.all([sides.source.end().catch(() => {}), sides.target.end().catch(() => {})]);
}

const SERVER_SQL = `
select current_setting('server_version') as version,
       current_setting('server_version_num')::int as version_num,
       current_user as "user", current_database() as database,
       coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false) as ssl,
       (select rolsuper from pg_roles where rolname = current_user) as superuser,
       (select rolbypassrls from pg_roles where rolname = current_user) as bypassrls`;

export interface ServerFacts extends ServerSummary {
  versionNum: number;
  bypassRls: boolean;
}

/** A row of SERVER_SQL. */
interface ServerRow {
  version: string;
  version_num: number;
  user: string;
  database: string;
  ssl: boolean;
  superuser: boolean;
  bypassrls: boolean;
}

export async function describeServer(client: pg.ClientBase, info: ConnInfo): Promise<ServerFacts> {
  const { rows } = await client.query<ServerRow>(SERVER_SQL);
  const r = rows[0]!;
  return {
    url: info.display,
    version: r.version.split(" ")[0]!,
    versionNum: r.version_num,
    major: Math.floor(r.version_num / 10000),
    user: r.user,
    database: r.database,
    ssl: r.ssl,
    superuser: r.superuser,
    bypassRls: r.bypassrls,
  };
}

/**
 * A query that fails mid-check is the check failing, not a finding: rethrow it as a
 * PgferryError that names the side, so the one error boundary prints it properly.
 */
function tagErrors(client: pg.Client, info: ConnInfo): pg.Client {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as { query: unknown }).query = (...args: unknown[]) => {
    const result = query(...args);
    if (!(result instanceof Promise)) return result;
    return result.catch((err: unknown) => {
      throw checkQueryError(err, info);
    });
  };
  return client;
}

export function checkQueryError(err: unknown, info: ConnInfo): PgferryError {
  const side = info.side;
  return fromDriverError(err, {
    side,
    what: `A check query on the ${side} failed`,
    leads: {
      LOCK_TIMEOUT: `A catalog read on the ${side} waited too long for a lock`,
      PERMISSION_DENIED: `The ${side} role may not read a catalog check needs`,
      ROW_SECURITY: `The ${side} role may not read a catalog check needs`,
      CONNECTION_LOST: `The connection to the ${side} dropped during the check`,
    },
    hints: {
      LOCK_TIMEOUT:
        "A transaction holds an exclusive lock (often a running migration or VACUUM FULL); run check again when it ends.",
      CONNECTION_LOST:
        "Run `pgferry check` again; if it keeps happening, check the network path and the server's log.",
    },
  });
}

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "::1"]);

/** An unencrypted session to another host sends the data, and maybe the password, in clear. */
export function checkEncryption(info: ConnInfo, facts: ServerSummary, findings: Findings): void {
  if (facts.ssl || LOCAL_HOSTS.has(info.host) || info.host.startsWith("/")) return;
  findings.warning({
    code: "NO_SSL",
    side: info.side === "target" ? "target" : "source",
    message: `The connection to the ${info.side} (${info.host}) is not encrypted (sslmode=${info.sslmode}); every copied row would cross the network in clear.`,
    fix: `Add sslmode=require (or verify-full with sslrootcert) to the ${info.side} URL, and enable SSL on that server.`,
  });
}
