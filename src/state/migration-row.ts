import type pg from "pg";
import { PgferryError } from "../errors/index.js";
import { type PhaseMove, unmovedPhase } from "./phase-move.js";
import { MIGRATION_PHASES, type MigrationPhase } from "./phases.js";

/**
 * The one row of pgferry.migration, as `select *` returns it, with the two ages computed on
 * the target's clock. Columns a later numbered file added are absent (undefined) on a control
 * schema that command has not upgraded (cleanup and status read old ones as they are): test
 * them with `== null`.
 */
export type MigrationRow = {
  source_display: string;
  source_identity: string;
  phase: MigrationPhase;
  start_position: string | null;
  options: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
  copy_started_at: Date | null;
  copy_finished_at: Date | null;
  heartbeat_at: Date | null;
  fence_raised_at: Date | null;
  switched_at: Date | null;
  unavailable_ms: string | null;
  rollback_window: boolean;
  reverse_position: string | null;
  rolled_back_at: Date | null;
  pending_changes: string | null;
  pending_at: Date | null;
  lag_seconds: number | null;
  stream_rate: number | null;
  stream_updated_at: Date | null;
  switch_started_at: Date | null;
  /** The migration's secret (see capture/ownership.ts); never printed. */
  token: string;
  rollback_fence_raised_at: Date | null;
  /** See 006_rollback.sql: from here the application may use the source again. */
  rollback_switch_started_at: Date | null;
  source_unfenced_at: Date | null;
  log_bytes: string | null;
  log_measured_at: Date | null;
  start_left_at: Date | null;
  log_rows: string | null;
  reverse_applied_at: Date | null;
  reverse_changes_applied: string;
  /** Seconds since heartbeat_at (null without one). */
  heartbeat_age: number | null;
  /** The target's clock, ms since the epoch. */
  now_ms: number;
};

/** Which control table exists: before prepare (and after cleanup) none does. */
export async function controlTableExists(
  client: pg.ClientBase,
  table: "migration" | "tables" | "events",
): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>("select to_regclass($1) is not null as ok", [
    `pgferry.${table}`,
  ]);
  return rows[0]?.ok === true;
}

/** The migration row; `lock` takes it FOR UPDATE in the caller's transaction. */
export async function readMigration(
  client: pg.ClientBase,
  opts: { lock?: boolean } = {},
): Promise<MigrationRow | undefined> {
  const { rows } = await client.query<MigrationRow>(
    `select *, extract(epoch from now() - heartbeat_at)::float8 as heartbeat_age,
            (extract(epoch from now()) * 1000)::float8 as now_ms
       from pgferry.migration${opts.lock ? " for update" : ""}`,
  );
  return rows[0];
}

/** The migration row when the control schema exists, else undefined. */
export async function readMigrationIfAny(client: pg.ClientBase): Promise<MigrationRow | undefined> {
  return (await controlTableExists(client, "migration")) ? readMigration(client) : undefined;
}

/** The migration's token (capture/ownership.ts): whose capture a database holds, and the apply key. */
export async function migrationToken(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ token: string }>("select token from pgferry.migration");
  if (!rows[0])
    throw new PgferryError("NOT_PREPARED", "There is no migration on this target.", { side: "target" });
  return rows[0].token;
}

/** Prepare's first write: the row, unless a run before this one wrote it. */
export async function insertMigration(
  client: pg.ClientBase,
  row: { sourceDisplay: string; sourceIdentity: string; options: string; token: string },
): Promise<void> {
  await client.query(
    `insert into pgferry.migration (source_display, source_identity, options, token)
     values ($1, $2, $3, $4) on conflict do nothing`,
    [row.sourceDisplay, row.sourceIdentity, row.options, row.token],
  );
}

/** Columns a phase move may set with it, each to a value or to now(). */
type MoveSet = Partial<
  Record<
    | "start_position"
    | "copy_started_at"
    | "copy_finished_at"
    | "fence_raised_at"
    | "switched_at"
    | "unavailable_ms"
    | "switch_started_at"
    | "rolled_back_at"
    | "rollback_fence_raised_at"
    | "rollback_switch_started_at"
    | "source_unfenced_at",
    { value: unknown } | "now" | "keep-or-now" | { keepOr: unknown }
  >
>;

function assignments(set: MoveSet, params: unknown[]): string {
  return Object.entries(set)
    .map(([col, v]) => {
      // Column names come from MoveSet's fixed list, never from input.
      if (v === "now") return `, ${col} = now()`;
      if (v === "keep-or-now") return `, ${col} = coalesce(${col}, now())`;
      if (v !== undefined && "keepOr" in v) {
        params.push(v.keepOr);
        return `, ${col} = coalesce(${col}, $${params.length})`;
      }
      params.push(v?.value);
      return `, ${col} = $${params.length}`;
    })
    .join("");
}

/**
 * Moves the migration's phase (and sets `set` with it) when it is in `move.from`. Returns
 * false when there is no migration or it is in `move.skip`; throws ILLEGAL_PHASE_MOVE in any
 * other phase.
 */
export async function moveMigration(
  client: pg.ClientBase,
  move: PhaseMove<MigrationPhase>,
  set: MoveSet = {},
): Promise<boolean> {
  const params: unknown[] = [move.to, move.from];
  const r = await client.query(
    `update pgferry.migration set phase = $1, updated_at = now()${assignments(set, params)}
      where phase = any ($2::text[])`,
    params,
  );
  if (r.rowCount) return true;
  const { rows } = await client.query<{ phase: MigrationPhase }>("select phase from pgferry.migration");
  return unmovedPhase("The migration", rows[0]?.phase, move);
}

/** Every phase but these: for moves that are a no-op wherever they do not apply. */
export function phasesExcept(...except: MigrationPhase[]): MigrationPhase[] {
  return MIGRATION_PHASES.filter((p) => !except.includes(p));
}

/** Sets timestamps of the cutover and the rollback (no phase change). */
export async function setMigrationTimes(client: pg.ClientBase, set: MoveSet): Promise<void> {
  const params: unknown[] = [];
  await client.query(`update pgferry.migration set updated_at = now()${assignments(set, params)}`, params);
}

/** Like setMigrationTimes, without touching updated_at (the switch marks, as before). */
export async function setSwitchMark(
  client: pg.ClientBase,
  column: "switch_started_at" | "rollback_switch_started_at",
  started: boolean,
): Promise<void> {
  await client.query(`update pgferry.migration set ${column} = ${started ? "now()" : "null"}`);
}

/** migration.options with `patch` merged in (a key set to null stays, as null). */
export async function mergeMigrationOptions(
  client: pg.ClientBase,
  patch: Record<string, unknown>,
): Promise<void> {
  await client.query("update pgferry.migration set options = options || $1::jsonb, updated_at = now()", [
    JSON.stringify(patch),
  ]);
}

/** The stream's figures for status: lag from the streaming tables' beats, pending, rate, log size. */
export async function storeStreamFigures(
  client: pg.ClientBase,
  f: { pending: number; rate: number | null; logBytes: number | null; logRows: number | null },
): Promise<void> {
  await client.query(
    // A streaming table that has not reached any beat yet (just started, or still working
    // through cut windows of a backlog) makes the lag unknown rather than understated.
    `with beat as (
       select count(*) as n, case when bool_or(beat_at is null) then null else min(beat_at) end as at
         from pgferry.tables where phase in ('streaming', 'paused'))
     update pgferry.migration set
            heartbeat_at = case when (select n from beat) > 0 then (select at from beat) else heartbeat_at end,
            lag_seconds = extract(epoch from now() -
              case when (select n from beat) > 0 then (select at from beat) else heartbeat_at end),
            pending_changes = $1, pending_at = now(),
            stream_rate = coalesce($2, stream_rate), stream_updated_at = now(),
            log_bytes = coalesce($3, log_bytes),
            log_measured_at = case when $3::int8 is null then log_measured_at else now() end,
            log_rows = coalesce($4, log_rows)`,
    [f.pending, f.rate, f.logBytes, f.logRows],
  );
}

/** The reverse stream's round: its position on the source and the changes it brought back. */
export async function recordReverseRound(
  client: pg.ClientBase,
  position: string,
  changes: number,
): Promise<void> {
  await client.query(
    `update pgferry.migration set reverse_position = $1, reverse_applied_at = now(),
            reverse_changes_applied = reverse_changes_applied + $2, updated_at = now()`,
    [position, changes],
  );
}

/** The rollback window opens at `start` (kept when a rerun finds it open). */
export async function openRollbackWindow(client: pg.ClientBase, start: string): Promise<void> {
  await client.query(
    "update pgferry.migration set reverse_position = coalesce(reverse_position, $1), rollback_window = true, updated_at = now()",
    [start],
  );
}

export async function closeRollbackWindow(client: pg.ClientBase): Promise<void> {
  await client.query(
    "update pgferry.migration set rollback_window = false, reverse_position = null, updated_at = now()",
  );
}

/** Marks the moment a `start` left cleanly (status: none runs, and since when). */
export async function recordStartLeft(client: pg.ClientBase): Promise<void> {
  await client.query("update pgferry.migration set start_left_at = now()");
}
