import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { PgferryError, registerSecret, type Side } from "../errors/index.js";

export type SslMode = "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full";
const SSL_MODES: readonly SslMode[] = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

/**
 * A parsed connection URL. The password is a non-enumerable property, so logging or
 * JSON-serialising the object never shows it; `display` is the masked form for humans.
 */
export interface ConnInfo {
  readonly side: Side;
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string | undefined;
  readonly sslmode: SslMode;
  readonly sslrootcert: string | undefined;
  /** Extra libpq-style parameters from the query string (application_name is ignored). */
  readonly params: Readonly<Record<string, string>>;
  /** The URL with the password masked. */
  readonly display: string;
}

export function parseConnUrl(raw: string, side: Side): ConnInfo {
  const label = side === "local" ? "connection" : side;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new PgferryError("BAD_URL", `The ${label} URL is not a valid connection URL.`, { side });
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new PgferryError(
      "BAD_URL",
      `The ${label} URL must start with postgres:// or postgresql://, not ${url.protocol}//.`,
      { side },
    );
  }
  const password = url.password ? safeDecode(url.password) : undefined;
  registerSecret(password);
  const user = safeDecode(url.username);
  const database = safeDecode(url.pathname.replace(/^\//, ""));
  if (!url.hostname) throw new PgferryError("BAD_URL", `The ${label} URL has no host.`, { side });
  if (!user) throw new PgferryError("BAD_URL", `The ${label} URL has no user name.`, { side });
  if (!database) throw new PgferryError("BAD_URL", `The ${label} URL has no database name.`, { side });
  const port = url.port ? Number(url.port) : 5432;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new PgferryError("BAD_URL", `The ${label} URL has an invalid port.`, { side });
  }
  const params: Record<string, string> = {};
  for (const [k, v] of url.searchParams) params[k] = v;
  const sslmodeRaw = params["sslmode"] ?? "prefer";
  if (!SSL_MODES.includes(sslmodeRaw as SslMode)) {
    throw new PgferryError(
      "BAD_URL",
      `The ${label} URL has sslmode=${sslmodeRaw}; use one of ${SSL_MODES.join(", ")}.`,
      { side },
    );
  }
  const masked = new URL(url.toString());
  if (masked.password) masked.password = "****";
  const info = {
    side,
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port,
    database,
    user,
    sslmode: sslmodeRaw as SslMode,
    sslrootcert: params["sslrootcert"],
    params,
    display: masked.toString(),
  } as ConnInfo;
  Object.defineProperty(info, "password", { value: password, enumerable: false });
  return Object.freeze(info);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** TLS options for node-postgres following libpq's sslmode semantics. */
export function tlsOptions(info: ConnInfo, mode: SslMode = info.sslmode): false | ConnectionOptions {
  if (mode === "disable" || mode === "allow") return false;
  const ca = info.sslrootcert ? readCa(info) : undefined;
  if (mode === "verify-full") return { ca, rejectUnauthorized: true, servername: info.host };
  if (mode === "verify-ca") return { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  // libpq: require with a root certificate given behaves like verify-ca.
  if (ca) return { ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
  return { rejectUnauthorized: false };
}

function readCa(info: ConnInfo): string {
  try {
    return readFileSync(info.sslrootcert!, "utf8");
  } catch {
    throw new PgferryError(
      "BAD_URL",
      `The ${info.side} sslrootcert file cannot be read: ${info.sslrootcert}`,
      {
        side: info.side,
        hint: "Give sslrootcert the path of a readable PEM file with the server's CA certificate.",
      },
    );
  }
}

/** Environment for libpq programs (pg_dump, psql): the password travels here, never on a command line. */
export function libpqEnv(info: ConnInfo): Record<string, string> {
  const env: Record<string, string> = {
    PGHOST: info.host,
    PGPORT: String(info.port),
    PGUSER: info.user,
    PGDATABASE: info.database,
    PGSSLMODE: info.sslmode,
  };
  if (info.password !== undefined) env["PGPASSWORD"] = info.password;
  if (info.sslrootcert) env["PGSSLROOTCERT"] = info.sslrootcert;
  return env;
}

/** Reads --source/--target or the PGFERRY_*_URL variables. */
export function resolveUrl(flag: string | undefined, side: "source" | "target"): ConnInfo {
  const envName = side === "source" ? "PGFERRY_SOURCE_URL" : "PGFERRY_TARGET_URL";
  const raw = flag ?? process.env[envName];
  if (!raw) {
    throw new PgferryError("MISSING_URL", `No ${side} URL: pass --${side} or set ${envName}.`, { side });
  }
  return parseConnUrl(raw, side);
}
