import { spawn } from "node:child_process";
import { type ConnInfo, libpqEnv } from "../db/index.js";
import { PgferryError, redact } from "../errors/index.js";
import type { RelationName } from "./types.js";

/** URL parameters that libpq reads from the environment under another name. */
const PARAM_ENV: Readonly<Record<string, string>> = {
  sslcert: "PGSSLCERT",
  sslkey: "PGSSLKEY",
  sslcrl: "PGSSLCRL",
  connect_timeout: "PGCONNECT_TIMEOUT",
  target_session_attrs: "PGTARGETSESSIONATTRS",
  gssencmode: "PGGSSENCMODE",
};

/**
 * The child's environment: ours without any PG* variable (a stray PGOPTIONS or PGSERVICE
 * must not redirect the dump), plus the connection. The password travels in PGPASSWORD,
 * never on the command line, where `ps` would show it.
 */
export function pgDumpEnv(info: ConnInfo): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("PG")) env[k] = v;
  for (const [param, name] of Object.entries(PARAM_ENV)) {
    const v = info.params[param];
    if (v !== undefined) env[name] = v;
  }
  return {
    ...env,
    ...libpqEnv(info),
    PGAPPNAME: "pgferry:prepare",
    PGCONNECT_TIMEOUT: env["PGCONNECT_TIMEOUT"] ?? "15",
  };
}

/**
 * A pg_dump -T pattern matching exactly one table: each part double-quoted (inside quotes
 * `*`, `?` and `.` are literal and case is kept), embedded quotes doubled.
 */
export function exactTablePattern(r: RelationName): string {
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return `${q(r.schema)}.${q(r.name)}`;
}

/** Runs pg_dump and returns its output; a failure carries pg_dump's own message, scrubbed. */
export function runPgDump(
  bin: string,
  args: string[],
  info: ConnInfo,
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      env: pgDumpEnv(info),
      stdio: ["ignore", "pipe", "pipe"],
      ...(signal ? { signal } : {}),
    });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => {
      if (err.length < 64_000) err += b.toString("utf8");
    });
    child.on("error", (cause) => {
      if (signal?.aborted) return reject(signal.reason ?? cause);
      reject(
        new PgferryError("PG_DUMP_MISSING", `Could not run ${bin}: ${redact(cause.message)}`, {
          side: "local",
          cause,
        }),
      );
    });
    child.on("close", (code, sig) => {
      if (signal?.aborted) return reject(signal.reason);
      if (code === 0) return resolve(Buffer.concat(out).toString("utf8"));
      const message = redact(err.trim()).split("\n").slice(-20).join("\n") || `exit ${code ?? sig}`;
      reject(
        new PgferryError("PG_DUMP_FAILED", `pg_dump of the source schema failed:\n${message}`, {
          side: "source",
        }),
      );
    });
  });
}
