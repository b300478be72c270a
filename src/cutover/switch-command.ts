import { spawn } from "node:child_process";
import type { ConnInfo } from "../db/index.js";
import { PgferryError, redact } from "../errors/index.js";
import type { EventSink } from "../progress/events.js";

/** The full URL of a connection, password included: only ever placed in a child's environment. */
export function connectionUrl(info: ConnInfo): string {
  const auth = `${encodeURIComponent(info.user)}${info.password === undefined ? "" : `:${encodeURIComponent(info.password)}`}`;
  const host = info.host.includes(":") ? `[${info.host}]` : info.host;
  const query = new URLSearchParams(info.params).toString();
  return `postgres://${auth}@${host}:${info.port}/${encodeURIComponent(info.database)}${query ? `?${query}` : ""}`;
}

export interface SwitchOptions {
  /** The database the application must use from now on. */
  to: ConnInfo;
  /** The URL the application is to use, verbatim (default: `to`'s, pgferry's own credential). */
  appUrl?: { url: string; display: string } | undefined;
  direction: "forward" | "rollback";
  timeoutMs: number;
  emit: EventSink;
}

/**
 * Runs the user's switch command through the shell. The URLs travel in the environment
 * (PGFERRY_APP_URL for the application, PGFERRY_TARGET_URL pgferry's own, each with a masked
 * _DISPLAY twin), never on a command line; the
 * command's output is passed on line by line (scrubbed of passwords by the printer). A
 * non-zero exit or the timeout is SWITCH_FAILED.
 */
export async function runSwitchCommand(command: string, opts: SwitchOptions): Promise<number> {
  const started = Date.now();
  const child = spawn(command, {
    shell: true,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PGFERRY_TARGET_URL: connectionUrl(opts.to),
      PGFERRY_TARGET_DISPLAY: opts.to.display,
      PGFERRY_APP_URL: opts.appUrl?.url ?? connectionUrl(opts.to),
      PGFERRY_APP_DISPLAY: opts.appUrl?.display ?? opts.to.display,
      PGFERRY_SWITCH_DIRECTION: opts.direction,
    },
  });
  const tail: string[] = [];
  const relay = (level: "info" | "warn") => (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split(/\r?\n/)) {
      if (!line) continue;
      const clean = redact(line);
      tail.push(clean);
      if (tail.length > 5) tail.shift();
      opts.emit({ type: "log", level, message: `switch command: ${clean}` });
    }
  };
  child.stdout.on("data", relay("info"));
  child.stderr.on("data", relay("warn"));
  const result = await new Promise<{
    code: number | null;
    signal: string | null;
    error?: Error;
    timedOut: boolean;
  }>((resolve) => {
    const timer = setTimeout(() => {
      try {
        // The whole process group: the shell and whatever it started.
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
      resolve({ code: null, signal: "SIGKILL", timedOut: true });
    }, opts.timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, error, timedOut: false });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut: false });
    });
  });
  if (result.code === 0) return Date.now() - started;
  const why = result.timedOut
    ? `did not finish within ${Math.round(opts.timeoutMs / 1000)}s`
    : result.error
      ? `could not start: ${result.error.message}`
      : result.code === null
        ? `was killed by ${result.signal}`
        : `exited with status ${result.code}`;
  throw new PgferryError(
    "SWITCH_FAILED",
    `The switch command ${why}${tail.length ? `; its last output: ${tail.join(" | ")}` : ""}.`,
    { side: "local" },
  );
}
