import type pg from "pg";
import { assertCaptureOwner } from "../capture/index.js";
import { tableArg } from "../catalog/index.js";
import type { ConnInfo } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import {
  assertSameSource,
  type MigrationPhase,
  newSourceTables,
  readMigrationIfAny,
  readTables,
} from "../state/index.js";

export interface MigrationState {
  phase: MigrationPhase;
  sourceIdentity: string;
  /** The migration's token (capture/ownership.ts). */
  token: string;
  rollbackWindow: boolean;
  fenceRaisedAt: Date | null;
  /** The switch command of an unfinished cutover may have run (see 004_cutover.sql). */
  switchStartedAt: Date | null;
  /** The rollback's switch command may have run (see 006_rollback.sql). */
  rollbackSwitchStartedAt: Date | null;
  /** When the rollback first raised the target's fence. */
  rollbackFenceRaisedAt: Date | null;
  /** now() − the heartbeat the target has applied, seconds; null before the first one. */
  lagSeconds: number | null;
}

export async function readState(target: pg.ClientBase): Promise<MigrationState> {
  const r = await readMigrationIfAny(target);
  if (!r || r.phase === "cleaned") {
    throw new PgferryError("NOT_PREPARED", "There is no migration on this target.", { side: "target" });
  }
  return {
    phase: r.phase,
    sourceIdentity: r.source_identity,
    token: r.token,
    rollbackWindow: r.rollback_window,
    fenceRaisedAt: r.fence_raised_at,
    switchStartedAt: r.switch_started_at ?? null,
    rollbackSwitchStartedAt: r.rollback_switch_started_at ?? null,
    rollbackFenceRaisedAt: r.rollback_fence_raised_at ?? null,
    lagSeconds: r.heartbeat_age === null ? null : Number(r.heartbeat_age),
  };
}

/**
 * The source is this migration's: the same database, and its capture is this migration's (a
 * fence or a catch-up on another migration's capture would switch with changes missing).
 */
export async function assertOwnSource(
  source: pg.ClientBase,
  info: ConnInfo,
  state: MigrationState,
): Promise<void> {
  await assertSameSource(source, info, state.sourceIdentity);
  await assertCaptureOwner(source, state.token, "source");
}

/**
 * What must hold before the fence goes up: the migration streams (or a cutover was
 * interrupted, which this run finishes), every table streams, and the lag is under the bound.
 * Nothing has been changed when this throws.
 */
export async function assertReadyForCutover(
  target: pg.ClientBase,
  state: MigrationState,
  maxLagSeconds: number,
): Promise<{ resuming: boolean }> {
  if (state.phase === "switched") {
    throw new PgferryError(
      "ALREADY_SWITCHED",
      "This migration was already cut over: the target is the live database.",
      {
        side: "target",
      },
    );
  }
  if (state.phase === "rolled-back") {
    throw new PgferryError("ALREADY_SWITCHED", "This migration was cut over and then rolled back.", {
      side: "target",
      hint: "The source is live again; to migrate again, run `pgferry cleanup` and start over with an empty target.",
    });
  }
  const rows = (await readTables(target, "name"))
    .filter((t) => t.phase !== "streaming")
    .map((t) => ({ name: `${t.schema}.${t.name}`, phase: t.phase, reason: t.pausedReason }));
  if (!["streaming", "cutover"].includes(state.phase) || rows.length > 0) {
    const list = rows
      .slice(0, 5)
      .map((r) => `${r.name} (${r.phase}${r.reason ? `: ${r.reason}` : ""})`)
      .join(", ");
    throw new PgferryError(
      "NOT_STREAMING",
      `Not every table is streaming yet (migration phase ${state.phase})${list ? `: ${list}${rows.length > 5 ? `, and ${rows.length - 5} more` : ""}` : ""}.`,
      { side: "target" },
    );
  }
  if (state.phase === "cutover") return { resuming: true };
  if (state.lagSeconds === null) {
    throw new PgferryError(
      "NOT_STREAMING",
      "No heartbeat has reached the target yet: the stream is not running.",
      {
        side: "target",
      },
    );
  }
  if (state.lagSeconds > maxLagSeconds) {
    throw new PgferryError(
      "LAG_TOO_HIGH",
      `The target is ${state.lagSeconds.toFixed(1)}s behind the source, over the bound of ${maxLagSeconds}s.`,
      {
        side: "target",
        hint: "Keep `pgferry start` running (is it?) and retry when `pgferry status` shows the lag under the bound, or raise --max-lag.",
      },
    );
  }
  return { resuming: false };
}

/**
 * Source tables the migration's filters match but that it does not carry (created after
 * prepare) would be left behind by the switch, still taking writes on the source. Checked
 * before the fence goes up, so a refusal never touches the application.
 */
export async function assertNoNewTables(target: pg.ClientBase, source: pg.Client): Promise<void> {
  const found = await newSourceTables(source, target);
  if (found.length === 0) return;
  const names = found.map((t) => `${t.schema}.${t.name}`);
  const first = tableArg(found[0]!.schema, found[0]!.name);
  const list = `${names.slice(0, 10).join(", ")}${names.length > 10 ? `, and ${names.length - 10} more` : ""}`;
  throw new PgferryError(
    "NEW_TABLES",
    `${names.length} source table(s) the migration does not carry (created after it started): ${list}. The switch would leave them behind.`,
    {
      side: "source",
      hint: `Bring them in with \`pgferry tables add ${first}\`, or leave them out deliberately with \`pgferry tables remove ${first}\` (or --exclude at start), then run cutover again.`,
    },
  );
}
