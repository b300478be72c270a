import type pg from "pg";
import { PgferryError } from "../errors/index.js";

/**
 * One database's capture belongs to one migration. Two migrations from one source would share
 * the log, the capture functions (same table ids) and the triggers, and each stream would
 * trim the log below its own positions: the other migration then silently misses changes.
 * So the capture schema records the migration it belongs to (its token, in pgferry.meta) and
 * every stage that reads, trims, fences or removes the capture checks it first.
 *
 * The token is also the apply sessions' key: pgferry.apply must equal it for a write to pass
 * the fence or go unlogged. Schema pgferry is closed to PUBLIC, so only the owning role can
 * read it; any role can SET pgferry.apply, but not to a value it cannot read.
 */
export const OWNER_KEY = "migration";
const OWNER_LABEL_KEY = "migration_target";

export interface CaptureOwner {
  /** The migration's token (kept in the migration row of the target's control schema). */
  token: string;
  /** Where that migration's state lives, for the message another migration gets (no password). */
  label: string;
}

/**
 * SQL: true in a session whose pgferry.apply holds this database's migration token. Evaluated
 * only after the cheap `<> ''` test in the capture bodies (writers that never set it pay one
 * current_setting), and run as the owner inside SECURITY DEFINER functions.
 */
export const APPLY_SESSION_TEST = `exists (select 1 from pgferry.meta m
   where m.key operator(pg_catalog.=) '${OWNER_KEY}'
     and m.value operator(pg_catalog.=) pg_catalog.current_setting('pgferry.apply', true))`;

/**
 * SQL: true in a session of pgferry's own that runs DDL on a fenced database (pgferry.ddl holds
 * the migration's token; markDdlSession). An event trigger that writes into a captured table
 * fires on that DDL; its writes pass the fence and are logged like any write before it (issue 12).
 */
export const DDL_SESSION_TEST = `exists (select 1 from pgferry.meta m
   where m.key operator(pg_catalog.=) '${OWNER_KEY}'
     and m.value operator(pg_catalog.=) pg_catalog.current_setting('pgferry.ddl', true))`;

/**
 * Marks this session as pgferry's own DDL session (see DDL_SESSION_TEST), reading the token
 * where only the owning role can: in pgferry.meta. No capture schema, nothing to mark.
 */
export async function markDdlSession(client: pg.ClientBase): Promise<void> {
  const { rows } = await client.query<{ ok: boolean }>(
    "select pg_catalog.to_regclass('pgferry.meta') is not null as ok",
  );
  if (!rows[0]?.ok) return;
  await client.query(
    `select pg_catalog.set_config('pgferry.ddl', coalesce(
       (select value from pgferry.meta where key = '${OWNER_KEY}'), ''), false)`,
  );
}

/**
 * Records `owner` as the migration this database's capture belongs to, in the caller's
 * transaction (after the capture schema exists). Refuses when another migration owns it.
 */
export async function claimCapture(client: pg.ClientBase, owner: CaptureOwner, side: "source" | "target") {
  await client.query(
    `insert into pgferry.meta (key, value) values ($1, $2), ($3, $4) on conflict (key) do nothing`,
    [OWNER_KEY, owner.token, OWNER_LABEL_KEY, owner.label],
  );
  await assertCaptureOwner(client, owner.token, side);
}

/**
 * Refuses to read, trim, fence or remove a capture that belongs to another migration, or that
 * is gone (removed by a cleanup: changes made since were not logged).
 */
export async function assertCaptureOwner(
  client: pg.ClientBase,
  token: string,
  side: "source" | "target",
): Promise<void> {
  const owner = await readCaptureOwner(client);
  if (owner === "absent") {
    throw new PgferryError(
      "CAPTURE_MISSING",
      `The ${side} has no pgferry capture: it was removed (by \`pgferry cleanup\`?), so changes made since were not logged.`,
      { side },
    );
  }
  if (owner === null) {
    // A capture installed before owners were recorded: this migration is its only user.
    await client.query("insert into pgferry.meta (key, value) values ($1, $2) on conflict (key) do nothing", [
      OWNER_KEY,
      token,
    ]);
    return assertCaptureOwner(client, token, side);
  }
  if (owner.token !== token) {
    throw new PgferryError(
      "SOURCE_IN_USE",
      `The ${side}'s change capture belongs to another migration (its state is on ${owner.label}); two migrations from one database would lose changes.`,
      { side },
    );
  }
}

/**
 * The migration this database's capture belongs to: "absent" without a capture schema, null
 * for a capture that records none.
 */
export async function readCaptureOwner(
  client: pg.ClientBase,
): Promise<{ token: string; label: string } | null | "absent"> {
  const { rows } = await client.query<{ ok: boolean }>(
    "select to_regclass('pgferry.meta') is not null as ok",
  );
  if (!rows[0]?.ok) return "absent";
  const r = await client.query<{ key: string; value: string }>(
    "select key, value from pgferry.meta where key = any ($1::text[])",
    [[OWNER_KEY, OWNER_LABEL_KEY]],
  );
  const get = (k: string) => r.rows.find((x) => x.key === k)?.value;
  const token = get(OWNER_KEY);
  return token === undefined ? null : { token, label: get(OWNER_LABEL_KEY) ?? "an unknown target" };
}
