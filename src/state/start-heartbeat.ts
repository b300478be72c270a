import { randomUUID } from "node:crypto";
import os from "node:os";
import type pg from "pg";
import { type ConnInfo, connect, withTransaction } from "../db/index.js";
import { recordStartLeft } from "./migration-row.js";

/** How often a running `pgferry start` refreshes its row in pgferry.start_heartbeats. */
export const START_BEAT_MS = 2000;
/** A start that missed this many beats in a row is taken for dead (status says none runs). */
export const START_MISSED_BEATS = 3;
export const START_STALE_SECONDS = (START_BEAT_MS * START_MISSED_BEATS) / 1000;

export type StartRole = "prepare" | "copy" | "forward stream" | "reverse stream" | "waiting";

export interface StartHeartbeat {
  /** What the process does now; written with the next beat. */
  role(role: StartRole): void;
  /** Stops beating and removes the row: a clean exit. */
  stop(): Promise<void>;
}

const TABLE_EXISTS = "select to_regclass('pgferry.start_heartbeats') is not null as ok";

/**
 * Keeps this process's row in pgferry.start_heartbeats on the target fresh, on a session of its
 * own so a busy or retrying stream never delays it. Before prepare created the control schema
 * (and after cleanup dropped it) there is nothing to write: it tries again at the next beat.
 * Times are the target's clock, as status reads them, so no two clocks are compared.
 */
export function startHeartbeat(target: ConnInfo, first: StartRole = "prepare"): StartHeartbeat {
  const id = randomUUID();
  const host = os.hostname();
  let role: StartRole = first;
  let client: pg.Client | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const session = async (): Promise<pg.Client> => {
    client ??= await connect(target, { stage: "status", statementTimeoutMs: 5000, connectTimeoutMs: 5000 });
    return client;
  };
  const dropSession = async () => {
    await client?.end().catch(() => {});
    client = undefined;
  };
  const beat = async () => {
    try {
      const c = await session();
      if (!(await c.query<{ ok: boolean }>(TABLE_EXISTS)).rows[0]?.ok) return;
      await c.query(
        `insert into pgferry.start_heartbeats (id, host, pid, role) values ($1, $2, $3, $4)
         on conflict (id) do update set role = excluded.role, last_seen_at = now()`,
        [id, host, process.pid, role],
      );
    } catch {
      // A lost connection: a new session at the next beat (missed beats are what status sees).
      await dropSession();
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = beat().then(schedule);
    }, START_BEAT_MS);
  };
  running = beat().then(schedule);

  return {
    role(next) {
      role = next;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      try {
        const c = await session();
        if ((await c.query<{ ok: boolean }>(TABLE_EXISTS)).rows[0]?.ok) {
          await withTransaction(c, async () => {
            await c.query("delete from pgferry.start_heartbeats where id = $1", [id]);
            await recordStartLeft(c);
          });
        }
      } catch {
        // The target out of reach: the row goes stale and status says so.
      } finally {
        await dropSession();
      }
    },
  };
}

export interface StartLiveness {
  running: boolean;
  /** Seconds since a start last beat (or left cleanly); null when none ever ran with this schema. */
  lastSeenSeconds: number | null;
  lastSeenAt: string | null;
  /** The live ones. */
  processes: { host: string; pid: number; role: string; lastSeenSeconds: number }[];
}

/** Read by status: whether any start beat within the staleness bound, and when one last did. */
export async function readStartLiveness(client: pg.ClientBase): Promise<StartLiveness> {
  const none: StartLiveness = { running: false, lastSeenSeconds: null, lastSeenAt: null, processes: [] };
  if (!(await client.query<{ ok: boolean }>(TABLE_EXISTS)).rows[0]?.ok) return none;
  const { rows } = await client.query<{ host: string; pid: number; role: string; age: number }>(
    `select host, pid, role, extract(epoch from now() - last_seen_at)::float8 as age
       from pgferry.start_heartbeats order by last_seen_at desc`,
  );
  const last = await client.query<{ at: Date | null; age: number | null }>(
    `select x.at, extract(epoch from now() - x.at)::float8 as age
       from (select greatest((select max(last_seen_at) from pgferry.start_heartbeats),
                             (select start_left_at from pgferry.migration)) as at) x`,
  );
  const at = last.rows[0]?.at ?? null;
  if (at === null) return none;
  const live = rows.filter((r) => r.age <= START_STALE_SECONDS);
  return {
    running: live.length > 0,
    lastSeenSeconds: Math.round(Math.max(0, last.rows[0]!.age ?? 0) * 10) / 10,
    lastSeenAt: new Date(at).toISOString(),
    processes: live.map((r) => ({
      host: r.host,
      pid: r.pid,
      role: r.role,
      lastSeenSeconds: Math.round(Math.max(0, r.age) * 10) / 10,
    })),
  };
}
