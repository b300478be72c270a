import { randomBytes } from "node:crypto";
import { ident, literal } from "../db/quote.js";
import { type LocalServer, SSL_ONLY_GROUP } from "./server.js";

export interface LocalDatabase {
  readonly server: LocalServer;
  readonly database: string;
  readonly role: string;
  readonly password: string;
  /** Connection URL for the owner role (password included: for tests and the demo only). */
  readonly url: string;
}

export interface ProfileOptions {
  /** Default: a random password. Tests pass a recognisable one to prove it never leaks. */
  password?: string;
  role?: string;
}

function randomPassword(): string {
  return `pw_${randomBytes(12).toString("hex")}`;
}

/**
 * A database owned by a new login role (neither superuser nor replication), as on Heroku and
 * RDS; with sslmode "require" the role is refused TCP connections without SSL. The role and
 * password default to `<database>_owner` and a random one.
 */
async function createOwnedDatabase(
  server: LocalServer,
  database: string,
  opts: ProfileOptions,
  sslmode: "require" | "prefer",
): Promise<LocalDatabase> {
  const role = opts.role ?? `${database}_owner`;
  const password = opts.password ?? randomPassword();
  const sslOnly = sslmode === "require";
  await server.admin(
    "postgres",
    `create role ${ident(role)} login password ${literal(password)} nosuperuser nocreatedb nocreaterole noreplication`,
  );
  if (sslOnly) await server.admin("postgres", `grant ${ident(SSL_ONLY_GROUP)} to ${ident(role)}`);
  await server.admin("postgres", `create database ${ident(database)} owner ${ident(role)}`);
  // The owner owns public too, as on Heroku and RDS (PG15+ does this itself via pg_database_owner).
  await server.admin(database, `alter schema public owner to ${ident(role)}`);
  return { server, database, role, password, url: server.url(database, role, password, sslmode) };
}

/**
 * Heroku-like source: the application role owns its database but is neither superuser nor
 * replication; TCP connections without SSL are rejected for it. Extensions live in
 * `heroku_ext`, created by the superuser as Heroku does.
 */
export async function herokuLikeDatabase(
  server: LocalServer,
  database: string,
  opts: ProfileOptions = {},
): Promise<LocalDatabase> {
  const db = await createOwnedDatabase(server, database, opts, "require");
  await server.admin(database, "create schema heroku_ext");
  await server.admin(database, `grant usage, create on schema heroku_ext to ${ident(db.role)}`);
  return db;
}

/** RDS-like target: a non-superuser role that owns the (empty) target database. */
export async function rdsLikeDatabase(
  server: LocalServer,
  database: string,
  opts: ProfileOptions = {},
): Promise<LocalDatabase> {
  return createOwnedDatabase(server, database, opts, "prefer");
}
