import type pg from "pg";
import { ident, qualified, SQLSTATE, serverMajor, sqlState } from "../db/index.js";
import { lockBoundedTransaction } from "../db/lock-bounded.js";
import { PgferryError, type Side } from "../errors/index.js";
import type { EventSink } from "../progress/events.js";
import { holdersText, lockHolders } from "./install.js";
import { markDdlSession } from "./ownership.js";

/**
 * Removing what capture installed: the triggers on user relations (one relation per short,
 * lock-bounded transaction) and schema pgferry. Used by cleanup, and by a cutover that takes
 * back the rollback window's capture on the target.
 */
export interface DropOptions {
  /** lock_timeout of each step: a DROP waits at most this long behind the application. */
  lockTimeoutMs: number;
  /** Tries per step before giving up (each after a growing pause). */
  attempts: number;
  emit: EventSink;
  signal?: AbortSignal;
}

/** A relation carrying pgferry triggers, with their names. */
export interface TriggeredRelation {
  schema: string;
  name: string;
  triggers: string[];
}

// pgferry's triggers on user relations: named pgferry_ and calling a function of schema
// pgferry (or named like the capture triggers, should that function be gone). Clones on
// partitions go with their parent (tgparentid, 13+; marked internal before).
const TRIGGERS_SQL = `
select n.nspname as schema, c.relname as name, array_agg(t.tgname::text order by t.tgname) as triggers
  from pg_trigger t
  join pg_class c on c.oid = t.tgrelid
  join pg_namespace n on n.oid = c.relnamespace
  left join pg_proc p on p.oid = t.tgfoid
  left join pg_namespace pn on pn.oid = p.pronamespace
 where not t.tgisinternal and n.nspname <> 'pgferry' %PARENT%
   and t.tgname like 'pgferry\\_%'
   and (pn.nspname = 'pgferry' or t.tgname like 'pgferry\\_capture\\_%')
 group by n.nspname, c.relname
 order by 1, 2`;

export async function pgferryTriggers(client: pg.ClientBase): Promise<TriggeredRelation[]> {
  const major = await serverMajor(client as pg.Client);
  const sql = TRIGGERS_SQL.replace("%PARENT%", major >= 13 ? "and t.tgparentid = 0" : "");
  const { rows } = await client.query<TriggeredRelation>(sql);
  return rows;
}

/** The pace of a drop's retries: 0.2 s doubling to 5 s, each 50–100 % of that. */
const DROP_BACKOFF = { baseMs: 200, capMs: 5000, jitter: [0.5, 1] } as const;

/**
 * Runs one short transaction with a lock_timeout, retrying when the lock is not granted in
 * time: a DROP queued behind a long transaction would stall every writer queued behind it.
 */
export function lockBounded(
  client: pg.ClientBase,
  side: Side,
  what: { schema: string; name: string },
  opts: DropOptions,
  body: () => Promise<void>,
): Promise<void> {
  const table = `${what.schema}.${what.name}`;
  return lockBoundedTransaction(
    client,
    {
      lockTimeoutMs: opts.lockTimeoutMs,
      attempts: opts.attempts,
      backoff: DROP_BACKOFF,
      signal: opts.signal,
      holders: () => lockHolders(client, what).catch(() => []),
      onWait: (waiters, attempt) => opts.emit({ type: "lock:wait", table, attempt, waiters }),
      failure: (waiters, err) =>
        new PgferryError(
          "LOCK_TIMEOUT",
          `Could not lock ${table} on the ${side} after ${opts.attempts} tries${holdersText(waiters)}.`,
          { side, cause: err },
        ),
    },
    body,
  );
}

/** Drops pgferry's triggers, one relation per transaction. Returns the relations cleaned. */
export async function dropTriggers(
  client: pg.ClientBase,
  side: Side,
  opts: DropOptions,
): Promise<TriggeredRelation[]> {
  const relations = await pgferryTriggers(client);
  // Dropping a trigger fires the source's event triggers: their writes must pass the fence.
  await markDdlSession(client);
  for (const rel of relations) {
    await lockBounded(client, side, rel, opts, async () => {
      for (const trigger of rel.triggers) {
        try {
          await client.query("savepoint drop_one");
          await client.query(
            `drop trigger if exists ${ident(trigger)} on ${qualified(rel.schema, rel.name)}`,
          );
          await client.query("release savepoint drop_one");
        } catch (err) {
          // The relation was dropped meanwhile: nothing left to clean there.
          if (sqlState(err) !== SQLSTATE.undefinedTable) throw err;
          await client.query("rollback to savepoint drop_one");
        }
      }
    });
    opts.emit({
      type: "log",
      level: "info",
      message: `${side}: removed ${rel.triggers.join(", ")}`,
      table: `${rel.schema}.${rel.name}`,
    });
  }
  return relations;
}

/**
 * Drops what installCaptureSchema and installTableCapture put in schema pgferry (the log,
 * heartbeat, meta, the capture functions and the fence), leaving the schema and anything else
 * in it: on the target it also holds the control tables. Runs in the caller's transaction; the
 * triggers that call these functions must be gone first (dropTriggers).
 */
export async function dropCaptureObjects(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ fn: string }>(
    `select p.oid::regprocedure::text as fn from pg_proc p
      where p.pronamespace = 'pgferry'::regnamespace and (p.proname like 'capture\\_%' or p.proname = 'fence')`,
  );
  await client.query("drop table if exists pgferry.changes, pgferry.heartbeat, pgferry.meta, pgferry.fenced");
  for (const r of rows) await client.query(`drop function if exists ${r.fn}`);
}

/** Drops schema pgferry and all in it; true when there was one. */
export async function dropSchema(client: pg.ClientBase, side: Side, opts: DropOptions): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    "select exists (select 1 from pg_namespace where nspname = 'pgferry') as ok",
  );
  if (!rows[0]?.ok) return false;
  await lockBounded(client, side, { schema: "pgferry", name: "changes" }, opts, async () => {
    await client.query("drop schema if exists pgferry cascade");
  });
  opts.emit({ type: "log", level: "info", message: `${side}: dropped schema pgferry` });
  return true;
}
