import type pg from "pg";
import { PgferryError } from "../errors/index.js";

export type MigrationPhase =
  | "preparing"
  | "copying"
  | "indexing"
  | "streaming"
  | "cutover"
  | "switched"
  | "rolled-back"
  | "cleaned";

export interface MigrationRow {
  source_display: string;
  source_identity: string;
  phase: MigrationPhase;
  start_position: string | null;
  options: Record<string, unknown>;
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
  /** The migration's secret (see capture/ownership.ts); never printed. */
  token: string;
  rollback_fence_raised_at: Date | null;
  /** See 006_rollback.sql: from here the application may use the source again. */
  rollback_switch_started_at: Date | null;
  source_unfenced_at: Date | null;
}

export async function readMigration(client: pg.ClientBase): Promise<MigrationRow | undefined> {
  const { rows } = await client.query<MigrationRow>("select * from pgferry.migration");
  return rows[0];
}

/** The migration's token (capture/ownership.ts): whose capture a database holds, and the apply key. */
export async function migrationToken(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ token: string }>("select token from pgferry.migration");
  if (!rows[0])
    throw new PgferryError("NOT_PREPARED", "There is no migration on this target.", { side: "target" });
  return rows[0].token;
}

export async function setPhase(client: pg.ClientBase, phase: MigrationPhase): Promise<void> {
  await client.query("update pgferry.migration set phase = $1, updated_at = now()", [phase]);
}

/** Table phases, in pipeline order. */
export type TablePhase = "pending" | "copying" | "copied" | "indexing" | "indexed" | "streaming" | "paused";
