import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import {
  herokuLikeDatabase,
  type LocalDatabase,
  LocalServer,
  type ProfileOptions,
  rdsLikeDatabase,
} from "../../src/local-server/index.js";

/** The server of one major, started by the global setup. */
export function server(major: number): LocalServer {
  const handle = inject("servers").find((s) => s.major === major);
  if (!handle) throw new Error(`no PostgreSQL ${major} server in this run (see PGFERRY_TEST_PAIRS)`);
  return LocalServer.attach(handle);
}

function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString("hex")}`;
}

/** A fresh Heroku-like source database (non-superuser owner, SSL required) on `major`. */
export function sourceDb(major: number, opts: ProfileOptions = {}): Promise<LocalDatabase> {
  return herokuLikeDatabase(server(major), uniqueName("src"), opts);
}

/** A fresh RDS-like target database (non-superuser owner) on `major`. */
export function targetDb(major: number, opts: ProfileOptions = {}): Promise<LocalDatabase> {
  return rdsLikeDatabase(server(major), uniqueName("tgt"), opts);
}

/**
 * A plain session as the database's owner role, as the application would open it (not a
 * pgferry session: none of its settings), over SSL when the URL asks for it.
 */
export async function ownerSession(
  db: Pick<LocalDatabase, "url">,
  applicationName?: string,
): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: db.url.replace(/\?.*$/, ""),
    ssl: db.url.includes("sslmode=require") ? { rejectUnauthorized: false } : false,
    ...(applicationName ? { application_name: applicationName } : {}),
  });
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** Runs SQL as the database's owner role (not superuser), over SSL as the URL says. */
export async function asOwner<T = Record<string, unknown>>(
  db: LocalDatabase,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = await ownerSession(db);
  try {
    const r = await client.query(sql, params);
    return r.rows as T[];
  } finally {
    await client.end();
  }
}

/** Runs SQL as the superuser in the test database (only for tests about superuser things). */
export async function asSuperuser<T = Record<string, unknown>>(
  db: LocalDatabase,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const r = await db.server.admin(db.database, sql, params);
  return r.rows as T[];
}
