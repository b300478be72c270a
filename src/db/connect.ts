import pg from "pg";
import { PgferryError, redact } from "../errors/index.js";
import { type ConnInfo, type SslMode, tlsOptions } from "./conn-info.js";
import { takeConnectionSlot } from "./connection-cap.js";
import { sessionOpened } from "./open-sessions.js";
import { driverFields, SQLSTATE } from "./sqlstate.js";
import {
  BACKEND_STATE_SQL,
  type BackendStateRow,
  probeFailure,
  probeVerdict,
  stallTimeoutMs,
  watchClient,
} from "./watchdog.js";

export type Stage =
  | "check"
  | "prepare"
  | "copy"
  | "index"
  | "stream"
  | "heartbeat"
  | "verify"
  | "cutover"
  | "rollback"
  | "cleanup"
  | "status"
  | "tables"
  | "demo"
  | "probe";

export interface SessionOptions {
  stage: Stage;
  /** Upper bound for one statement, ms (0 = none). Source sessions should always have one. */
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
  /** Target sessions whose work commits together with its own progress mark can skip the fsync wait. */
  asyncCommit?: boolean;
  /** Extra GUCs for this session. */
  settings?: Record<string, string | number>;
  connectTimeoutMs?: number;
  /**
   * Bound for noticing a stalled session (watchdog.ts), ms; default PGFERRY_STALL_TIMEOUT or
   * 60 s; 0 turns the watchdog off.
   */
  stallTimeoutMs?: number;
}

/**
 * Settings every pgferry session runs with. Fixed date, interval, float, money and bytea formats make
 * COPY text and row hashes identical across servers and versions; row_security=off makes RLS
 * raise an error instead of silently hiding rows from a copy.
 */
export const CANONICAL_SETTINGS: Readonly<Record<string, string>> = {
  row_security: "off",
  TimeZone: "UTC",
  DateStyle: "ISO, YMD",
  IntervalStyle: "postgres",
  extra_float_digits: "3",
  bytea_output: "hex",
  // money prints and parses in lc_monetary's locale: C on both sides keeps its value exact.
  lc_monetary: "C",
  client_encoding: "UTF8",
};

/**
 * The lock_timeout value for a bound of `ms`: never 0, which PostgreSQL reads as "wait
 * forever" (a lock request queued behind a long transaction stalls every writer after it).
 */
export function lockTimeoutValue(ms: number): string {
  return `${Math.max(1, Math.round(ms))}ms`;
}

function startupOptions(opts: SessionOptions): string {
  const gucs: Record<string, string | number> = {
    ...CANONICAL_SETTINGS,
    // Always set, never inherited: a statement_timeout or idle_in_transaction_session_timeout
    // given to the role or database (ALTER ROLE … SET) would cut every index build or a
    // chunk's transaction short on every rerun (issue 17, item 12).
    statement_timeout: opts.statementTimeoutMs ?? 0,
    idle_in_transaction_session_timeout: 0,
    ...opts.settings,
  };
  if (opts.lockTimeoutMs !== undefined) gucs["lock_timeout"] = lockTimeoutValue(opts.lockTimeoutMs);
  if (opts.asyncCommit) gucs["synchronous_commit"] = "off";
  // Spaces inside a value must be backslash-escaped in the startup options string.
  return Object.entries(gucs)
    .map(([k, v]) => `-c ${k}=${String(v).replace(/\\/g, "\\\\").replace(/ /g, "\\ ")}`)
    .join(" ");
}

function clientConfig(info: ConnInfo, opts: SessionOptions, mode: SslMode): pg.ClientConfig {
  return {
    host: info.host,
    port: info.port,
    user: info.user,
    password: info.password,
    database: info.database,
    ssl: tlsOptions(info, mode),
    application_name: `pgferry:${opts.stage}`,
    options: startupOptions(opts),
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 15_000,
    // Probing starts after 10 s of silence instead of the kernel's two hours, so a peer that
    // vanished without a reset is noticed once the probes fail (minutes), not hours later.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
}

/** Opens one session, honouring sslmode the way libpq does, and maps failures to PgferryErrors. */
export async function connect(info: ConnInfo, opts: SessionOptions): Promise<pg.Client> {
  const modes: SslMode[] =
    info.sslmode === "prefer"
      ? ["prefer", "disable"]
      : info.sslmode === "allow"
        ? ["disable", "require"]
        : [info.sslmode];
  let lastError: unknown;
  // A stall probe takes no slot: it must answer while the cap is full (the stream fills it),
  // and the stream keeps one slot free for it (run-stream.ts).
  const release = opts.stage === "probe" ? () => {} : await takeConnectionSlot(info);
  for (const mode of modes) {
    const client = new pg.Client(clientConfig(info, opts, mode));
    // An idle connection that dies must not crash the process; the next query reports it.
    client.on("error", () => {});
    try {
      await client.connect();
      // 'end' comes however the session ends: end(), a server restart, a lost network.
      client.once("end", release);
      client.once("end", sessionOpened(info.side));
      watch(client, info, opts);
      return client;
    } catch (err) {
      lastError = err;
      await client.end().catch(() => {});
      const retryable =
        (mode === "prefer" && /does not support SSL/i.test(driverFields(err).message ?? "")) ||
        (info.sslmode === "allow" && isNoEncryptionRejection(err));
      if (!retryable) break;
    }
  }
  release();
  throw connectError(lastError, info);
}

function watch(client: pg.Client, info: ConnInfo, opts: SessionOptions): void {
  const bound = stallTimeoutMs(opts.stallTimeoutMs);
  if (bound <= 0) return;
  boundEnd(client, bound);
  if (opts.stage === "probe") return;
  watchClient(client, info, opts.stage, bound, (pid, ms) => probeBackend(info, pid, ms));
}

/**
 * end() on an idle session whose path froze waits for a FIN that never comes; after the
 * bound the socket is destroyed instead.
 */
function boundEnd(client: pg.Client, bound: number): void {
  const end = client.end.bind(client) as () => Promise<void>;
  const socket = (client as unknown as { connection: { stream: import("node:net").Socket } }).connection
    .stream;
  (client as { end: () => Promise<void> }).end = () => {
    const timer = setTimeout(() => socket.destroy(), bound);
    timer.unref();
    return end().finally(() => clearTimeout(timer));
  };
}

/** Asks the server, on a new connection, what the session with backend `pid` is doing. */
async function probeBackend(
  info: ConnInfo,
  pid: number,
  ms: number,
): Promise<{ alive: boolean; finding: string }> {
  let over = false;
  let probe: pg.Client | undefined;
  let timer: NodeJS.Timeout | undefined;
  const ask = async () => {
    const c = await connect(info, { stage: "probe", connectTimeoutMs: ms, statementTimeoutMs: ms });
    // A probe that connects after its deadline only needs closing.
    if (over) {
      await c.end().catch(() => {});
      throw new Error("probe deadline");
    }
    probe = c;
    const { rows } = await c.query<BackendStateRow>(BACKEND_STATE_SQL, [pid]);
    return probeVerdict(rows[0]);
  };
  try {
    return await Promise.race([
      ask(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("probe deadline")), ms);
      }),
    ]);
  } catch (err) {
    return probeFailure(err, ms);
  } finally {
    over = true;
    clearTimeout(timer);
    // Not awaited: the verdict must not wait on closing a probe whose path froze meanwhile.
    void probe?.end().catch(() => {});
  }
}

function isNoEncryptionRejection(err: unknown): boolean {
  const e = driverFields(err);
  return (
    e.code === SQLSTATE.invalidAuthorizationSpecification && /no encryption|SSL off/i.test(e.message ?? "")
  );
}

/** Turns a driver or network error on connect into a PgferryError naming the side. */
export function connectError(err: unknown, info: ConnInfo): PgferryError {
  const e = driverFields(err);
  const where = `${info.side} (${info.host}:${info.port}/${info.database})`;
  const msg = redact(e.message ?? String(err));
  const opts = { side: info.side, cause: err };
  switch (e.code) {
    case "ECONNREFUSED":
      return new PgferryError(
        "CONNECTION_REFUSED",
        `Cannot connect to the ${where}: connection refused.`,
        opts,
      );
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new PgferryError("HOST_NOT_FOUND", `Cannot connect to the ${where}: host not found.`, opts);
    case "ETIMEDOUT":
      return new PgferryError("CONNECTION_TIMEOUT", `Cannot connect to the ${where}: timed out.`, opts);
    case SQLSTATE.invalidPassword:
      return new PgferryError(
        "AUTH_FAILED",
        `The ${where} rejected the password for user "${info.user}".`,
        opts,
      );
    case SQLSTATE.invalidCatalogName:
      return new PgferryError(
        "DATABASE_NOT_FOUND",
        `The ${info.side} database "${info.database}" does not exist.`,
        opts,
      );
    case SQLSTATE.invalidAuthorizationSpecification:
      if (/no encryption|SSL off/i.test(msg)) {
        return new PgferryError(
          "SSL_REQUIRED",
          `The ${where} requires SSL, but the URL says sslmode=${info.sslmode}.`,
          opts,
        );
      }
      return new PgferryError("AUTH_FAILED", `The ${where} refused the connection: ${msg}`, opts);
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "ERR_TLS_CERT_ALTNAME_INVALID":
    case "CERT_HAS_EXPIRED":
      return new PgferryError(
        "SSL_VERIFY_FAILED",
        `The ${where} certificate failed verification: ${msg}`,
        opts,
      );
  }
  if (/does not support SSL/i.test(msg)) {
    return new PgferryError(
      "SSL_NOT_SUPPORTED",
      `The ${where} does not support SSL, but sslmode=${info.sslmode}.`,
      opts,
    );
  }
  if (/timeout/i.test(msg)) {
    return new PgferryError("CONNECTION_TIMEOUT", `Cannot connect to the ${where}: timed out.`, opts);
  }
  return new PgferryError("CONNECTION_REFUSED", `Cannot connect to the ${where}: ${msg}`, opts);
}

/** Runs fn with a fresh session and always closes it. */
export async function withClient<T>(
  info: ConnInfo,
  opts: SessionOptions,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = await connect(info, opts);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Server major version (e.g. 12, 17) from server_version_num. */
export async function serverMajor(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ v: string }>("select current_setting('server_version_num') as v");
  return Math.floor(Number(rows[0]!.v) / 10000);
}

/**
 * Runs `fn` (statements on `client`) and, if `signal` aborts meanwhile, cancels the statement
 * running on `client` from a second session (pg_cancel_backend: the statement rolls back). For
 * statements that may run for hours, such as an index build: Ctrl-C then stops at once, and
 * the next run builds it again, instead of waiting for it to finish.
 */
export async function cancelOnAbort<T>(
  info: ConnInfo,
  client: pg.Client,
  signal: AbortSignal | undefined,
  fn: () => Promise<T>,
): Promise<T> {
  if (!signal) return fn();
  const pid = (client as unknown as { processID: number }).processID;
  const cancel = () =>
    void withClient(info, { stage: "index", statementTimeoutMs: 10_000 }, (c) =>
      c.query("select pg_cancel_backend($1)", [pid]),
    ).catch(() => {});
  if (signal.aborted) cancel();
  signal.addEventListener("abort", cancel, { once: true });
  try {
    return await fn();
  } finally {
    signal.removeEventListener("abort", cancel);
  }
}
