import type pg from "pg";
import {
  type DropOptions,
  dropSchema,
  dropTriggers,
  enableUserTriggers,
  fenceState,
  readCaptureOwner,
} from "../capture/index.js";
import type { MigrationContext } from "../context.js";
import { connect, DDL_LOCK_TIMEOUT_MS } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import {
  assertSameSource,
  MIGRATION_PHASES,
  moveMigration,
  readMigration,
  readMigrationIfAny,
  recordEvent,
} from "../state/index.js";
import { type FinalReport, readFinalReport } from "./final-report.js";

export interface CleanupOptions {
  /** Clean a migration that is still copying, streaming or cutting over (abandons it). */
  force?: boolean;
  /** Leave the source alone (it is gone, or cleaned separately). */
  skipSource?: boolean;
  lockTimeoutMs?: number;
  attempts?: number;
}

export interface SideCleanup {
  /** Relations whose pgferry triggers were removed ("schema.name"). */
  relations: string[];
  schemaDropped: boolean;
  skipped: boolean;
}

export interface CleanupReport {
  /** The migration's phase before cleanup; null when the target had none. */
  phaseBefore: string | null;
  source: SideCleanup;
  target: SideCleanup;
  /**
   * What the migration was (phases and their times, rows, the measured write window, lost
   * writes where known), read before the control schema went: null when there was none, or
   * when an earlier cleanup had already dropped it.
   */
  final: FinalReport | null;
}

const UNFINISHED: Record<string, string> = {
  preparing: "is still being prepared",
  copying: "is still copying",
  indexing: "is still building indexes",
  streaming: "is still streaming (the application has not been switched)",
  cutover: "is in the middle of a cutover",
};

async function readPhase(
  target: pg.ClientBase,
): Promise<{ phase: string; identity: string; token: string } | null> {
  const r = await readMigrationIfAny(target);
  return r ? { phase: r.phase, identity: r.source_identity, token: r.token } : null;
}

/**
 * A rollback cut short leaves the migration 'switched' with the target fenced (the app's
 * writes there refused) or its switch begun: removing the target's capture then would lower
 * that fence while the application may already write to the source, a split brain.
 */
async function rollbackInterrupted(target: pg.ClientBase): Promise<boolean> {
  if ((await fenceState(target)) === "up") return true;
  // A control schema from before 006_rollback.sql has no such column (undefined).
  return (await readMigration(target))?.rollback_switch_started_at != null;
}

async function cleanSide(
  client: pg.ClientBase,
  side: "source" | "target",
  opts: DropOptions,
): Promise<SideCleanup> {
  // User triggers a rollback window disabled come back as they were before the schema goes.
  await enableUserTriggers(client, opts, side);
  const relations = await dropTriggers(client, side, opts);
  const schemaDropped = await dropSchema(client, side, opts);
  return { relations: relations.map((r) => `${r.schema}.${r.name}`), schemaDropped, skipped: false };
}

/**
 * The source's capture of another migration (another target's, or any when this target has
 * none) is left alone without --force: removing it would make that migration lose changes.
 */
async function refuseOthersCapture(source: pg.ClientBase, token: string | undefined): Promise<void> {
  const owner = await readCaptureOwner(source);
  if (owner === "absent" || owner === null || owner.token === token) return;
  throw new PgferryError(
    "SOURCE_IN_USE",
    `The source's change capture belongs to another migration (its state is on ${owner.label}); cleanup would make it lose changes.`,
    {
      side: "source",
      hint: "Run `pgferry cleanup` with that migration's target; if that target is gone for good, run this again with --force.",
    },
  );
}

/**
 * Removes every trigger, function, table and schema pgferry created, on both sides: first the
 * triggers on user tables, one relation per short lock-bounded transaction, then schema
 * pgferry. The source goes first and the target's control schema last, so a crash at any
 * point leaves a state that running cleanup again finishes. A database without pgferry
 * objects is not changed at all.
 */
export async function cleanup(ctx: MigrationContext, opts: CleanupOptions = {}): Promise<CleanupReport> {
  const drop: DropOptions = {
    lockTimeoutMs: opts.lockTimeoutMs ?? DDL_LOCK_TIMEOUT_MS,
    attempts: opts.attempts ?? 10,
    emit: ctx.emit,
    signal: ctx.signal,
  };
  ctx.emit({ type: "stage:start", stage: "cleanup" });
  const started = Date.now();
  const target = await connect(ctx.target, { stage: "cleanup", statementTimeoutMs: 120_000 });
  let source: pg.Client | undefined;
  try {
    if (!opts.skipSource)
      source = await connect(ctx.source, { stage: "cleanup", statementTimeoutMs: 120_000 });
    const migration = await readPhase(target);
    if (migration && source) await assertSameSource(source, ctx.source, migration.identity);
    if (source && !opts.force) await refuseOthersCapture(source, migration?.token);
    const why = migration ? UNFINISHED[migration.phase] : undefined;
    if (why && !opts.force) {
      throw new PgferryError("CLEANUP_REFUSED", `The migration ${why}; cleanup would abandon it.`, {
        side: "target",
        ...(migration?.phase === "cutover"
          ? {
              hint: "Run `pgferry cutover` again to finish, or `pgferry rollback` to undo it; --force abandons it.",
            }
          : {}),
      });
    }
    if (migration?.phase === "switched" && !opts.force && (await rollbackInterrupted(target))) {
      throw new PgferryError(
        "CLEANUP_REFUSED",
        "A rollback of this migration was interrupted: the target is fenced, or the rollback's switch command may have run. Cleanup would lower the target's fence while the source may take writes too.",
        { side: "target", hint: "Run `pgferry rollback` again to finish it; --force abandons it." },
      );
    }
    // Read before anything changes: the control schema it comes from goes last.
    const final = migration ? await readFinalReport(target) : null;
    if (migration) {
      // Every pgferry process (a stream still running) stops when it sees this phase.
      await moveMigration(target, { from: MIGRATION_PHASES, to: "cleaned" });
      await recordEvent(target, "info", "cleanup", `cleanup started (phase was ${migration.phase})`);
    }
    const skipped: SideCleanup = { relations: [], schemaDropped: false, skipped: true };
    const sourceReport = source ? await cleanSide(source, "source", drop) : skipped;
    const targetReport = await cleanSide(target, "target", drop);
    ctx.emit({
      type: "stage:done",
      stage: "cleanup",
      seconds: (Date.now() - started) / 1000,
      ...(final ? { data: { report: final } } : {}),
    });
    return { phaseBefore: migration?.phase ?? null, source: sourceReport, target: targetReport, final };
  } finally {
    await Promise.all([target.end().catch(() => {}), source?.end().catch(() => {})]);
  }
}
