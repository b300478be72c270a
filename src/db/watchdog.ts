import { Writable } from "node:stream";
import pg from "pg";
import { PgferryError } from "../errors/index.js";
import type { ConnInfo } from "./conn-info.js";
import { driverFields } from "./sqlstate.js";

/**
 * Liveness of an open session (issue 17, item 7). TCP keepalive cannot notice a path that
 * freezes while a request is in flight (unacknowledged data leaves it to the kernel's
 * retransmission timeout, 15–30 min), and a per-query deadline cannot tell a frozen path from
 * an index build that legitimately runs for hours. So: a session that waits on its server and
 * has moved no byte for half the stall bound is asked about on a NEW connection (a probe with
 * the other half as its deadline), which reads the session's backend in pg_stat_activity.
 * The server working on it (active, not waiting on the client) proves the server and the path
 * alive; anything else — no answer, the backend gone, idle, or waiting on us for bytes we sent
 * — is a stall: the socket is destroyed with a StallError, which every retry loop treats as a
 * lost connection (it reconnects and redoes the unit).
 */

export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

/** The stall bound: the session's own, else PGFERRY_STALL_TIMEOUT (seconds), else 60 s. */
export function stallTimeoutMs(own?: number): number {
  if (own !== undefined) return own;
  const env = Number(process.env["PGFERRY_STALL_TIMEOUT"]);
  return Number.isFinite(env) && env > 0 ? env * 1000 : DEFAULT_STALL_TIMEOUT_MS;
}

export interface StallDetails {
  side: ConnInfo["side"];
  /** What the session was waiting for: its stage and the statement, shortened. */
  waiting: string;
  /** How long nothing moved before the connection was closed. */
  silentMs: number;
  /** What the probe found. */
  probe: string;
}

/** A session closed because its path or server stopped answering; retried like a lost connection. */
export class StallError extends PgferryError {
  constructor(readonly stall: StallDetails) {
    super(
      "CONNECTION_LOST",
      `The ${stall.side} stalled: nothing moved for ${Math.round(stall.silentMs / 1000)} s while waiting for ${stall.waiting} (${stall.probe}); the connection was closed.`,
      { side: stall.side },
    );
  }
}

/** The stall behind an error, however deeply it is wrapped. */
export function stallOf(err: unknown): StallDetails | undefined {
  for (let e = err, depth = 0; e && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof StallError) return e.stall;
  }
  return undefined;
}

/** The parts of node-postgres the watchdog reads (internal, stable across pg 8). */
interface ClientInternals {
  connection: { stream: import("node:net").Socket };
  processID: number | null;
  _ending: boolean;
  _queryQueue: unknown[];
  _getActiveQuery(): ({ text?: string } & object) | null | undefined;
}

export type ProbeFn = (pid: number, deadlineMs: number) => Promise<{ alive: boolean; finding: string }>;

/**
 * Watches one connected client until it ends. `probe` opens the new connection; it is passed
 * in so that this module does not open sessions itself.
 */
export function watchClient(
  client: pg.Client,
  info: ConnInfo,
  stage: string,
  boundMs: number,
  probe: ProbeFn,
) {
  const c = client as unknown as ClientInternals;
  const socket = c.connection.stream;
  const silenceMs = Math.max(1, Math.floor(boundMs / 2));
  let mark = -1;
  let quietSince = Date.now();
  let probing = false;
  // No 'data' listener of our own: COPY TO STDOUT (pg-copy-streams) insists on being the only one.
  const moved = () => socket.bytesRead + socket.bytesWritten - socket.writableLength;

  const tick = async () => {
    if (probing || c._ending || socket.destroyed) return;
    const now = Date.now();
    const m = moved();
    if (m !== mark || !waitsOnServer(c, socket)) {
      mark = m;
      quietSince = now;
      return;
    }
    if (now - quietSince < silenceMs) return;
    probing = true;
    try {
      const pid = c.processID;
      const verdict = pid
        ? await probe(pid, boundMs - silenceMs)
        : { alive: false, finding: "no backend pid" };
      // Bytes that arrived while probing answer the question too.
      if (verdict.alive || moved() !== mark || c._ending || socket.destroyed) {
        quietSince = Date.now();
        return;
      }
      const stall = new StallError({
        side: info.side,
        waiting: `pgferry:${stage} ${describe(c._getActiveQuery())}`,
        silentMs: Date.now() - quietSince,
        probe: verdict.finding,
      });
      socket.destroy(stall);
    } finally {
      probing = false;
    }
  };
  const timer = setInterval(() => void tick(), Math.min(1000, Math.max(50, silenceMs / 4)));
  timer.unref();
  client.once("end", () => clearInterval(timer));
}

/**
 * Whether the client is waiting for its server. Not when idle, nor when it stopped reading
 * itself (a COPY out paused by a slower consumer), nor during a COPY in that has nothing to
 * send (the source feeding it is slow: that session is watched on its own).
 */
function waitsOnServer(c: ClientInternals, socket: import("node:net").Socket): boolean {
  const q = c._getActiveQuery();
  if (!q && c._queryQueue.length === 0) return false;
  if (socket.isPaused()) return false;
  if (q instanceof Writable) {
    const feeding = (q as unknown as { _gotCopyInResponse?: boolean })._gotCopyInResponse === true;
    if (feeding && !q.writableEnded && socket.writableLength === 0) return false;
  }
  return true;
}

function describe(q: ({ text?: string } & object) | null | undefined): string {
  if (!q) return "a queued statement";
  const text = (q.text ?? "").replace(/\s+/g, " ").trim();
  if (/^copy /i.test(text)) return /from stdin$/i.test(text) ? "a COPY … FROM STDIN" : "a COPY … TO STDOUT";
  return text.length > 60 ? `"${text.slice(0, 57)}…"` : `"${text}"`;
}

/** The session's backend as the server sees it, on a fresh connection with a deadline. */
export const BACKEND_STATE_SQL = `select state, wait_event_type, wait_event from pg_stat_activity where pid = $1`;

/**
 * Reads the verdict from a probe's answer. The server answering with an error (no free slot,
 * say) proves it reachable: then the session is left alone.
 */
/** A row of BACKEND_STATE_SQL. */
export interface BackendStateRow {
  state: string | null;
  wait_event_type: string | null;
  wait_event: string | null;
}

export function probeVerdict(row: BackendStateRow | undefined): { alive: boolean; finding: string } {
  if (!row) return { alive: false, finding: "the server no longer has that session" };
  if (row.state === null) return { alive: true, finding: "the session's state is not visible" };
  if (row.state === "active" && row.wait_event_type !== "Client")
    return { alive: true, finding: "the server is working on it" };
  const wait = row.wait_event ? `, ${row.wait_event}` : "";
  return { alive: false, finding: `the server's side of it is ${row.state}${wait}: the path lost the bytes` };
}

export function probeFailure(err: unknown, ms: number): { alive: boolean; finding: string } {
  const cause = driverFields(err).cause ?? err;
  if (cause instanceof pg.DatabaseError) return { alive: true, finding: "the server answered a probe" };
  return { alive: false, finding: `a new connection got no answer within ${Math.round(ms / 1000)} s` };
}
