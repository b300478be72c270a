import { randomBytes } from "node:crypto";
import type pg from "pg";
import { assertCaptureOwner, readCaptureOwner } from "../capture/index.js";
import { runCheck } from "../check/index.js";
import type { MigrationContext } from "../context.js";
import { connect, DDL_LOCK_TIMEOUT_MS } from "../db/index.js";
import { PgferryError, userCodeError } from "../errors/index.js";
import {
  countTables,
  ensureControlSchema,
  hasMigration,
  insertMigration,
  parseIdentity,
  readMigration,
  readSourceIdentity,
  type SourceIdentity,
  sameSource,
} from "../state/index.js";
import { installCapture } from "./capture-step.js";
import { applySchema } from "./schema-step.js";

export { insertTables, selectTables } from "./schema-step.js";

export interface PrepareOptions {
  include?: string[];
  exclude?: string[];
  pgDump?: string;
  /** Skip the preflight at the first start (its blockers are then not enforced). */
  skipCheck?: boolean;
  /** Copy jobs, for the preflight's connection-budget check. */
  jobs?: number;
  lockTimeoutMs?: number;
  maxLockWaitMs?: number;
  /** Kept in migration.options for status and later stages. */
  recordOptions?: Record<string, unknown>;
}

/** Serialises prepare across pgferry processes on one target; released with the session. */
const PREPARE_LOCK = "select pg_advisory_lock(hashtext('pgferry:prepare'))";
const PREPARE_TRY_LOCK = "select pg_try_advisory_lock(hashtext('pgferry:prepare')) as ok";

async function preflight(ctx: MigrationContext, opts: PrepareOptions): Promise<void> {
  const report = await runCheck({
    source: ctx.source,
    target: ctx.target,
    requireEmptyTarget: true,
    // Prepare holds the lock the rehearsal takes, and applies the schema itself right after.
    rehearseSchema: false,
    ...(opts.pgDump ? { pgDump: opts.pgDump } : {}),
    ...(opts.jobs ? { jobs: opts.jobs } : {}),
    ...(opts.include ? { include: opts.include } : {}),
    ...(opts.exclude ? { exclude: opts.exclude } : {}),
  });
  for (const w of report.warnings) ctx.emit({ type: "log", level: "warn", message: `${w.message} ${w.fix}` });
  if (report.blockers.length === 0) return;
  const list = report.blockers.map((b) => `\n  - ${b.message} Fix: ${b.fix}`).join("");
  throw new PgferryError("CHECK_FAILED", `The preflight found ${report.blockers.length} blocker(s):${list}`, {
    hint: "Fix the blockers listed (or run `pgferry check` for the details), then run start again.",
  });
}

/** The migration row for this source, created if absent; refuses a target migrating another source. */
async function ensureMigrationRow(
  target: pg.Client,
  ctx: MigrationContext,
  identity: SourceIdentity,
  opts: PrepareOptions,
): Promise<string> {
  await insertMigration(target, {
    sourceDisplay: ctx.source.display,
    sourceIdentity: JSON.stringify(identity),
    options: JSON.stringify(opts.recordOptions ?? {}),
    token: randomBytes(24).toString("hex"),
  });
  const m = (await readMigration(target))!;
  assertSameSource(m.source_display, m.source_identity, identity);
  return m.phase;
}

function assertSameSource(display: string, stored: string, identity: SourceIdentity): void {
  const theirs = parseIdentity(stored);
  if (theirs && sameSource(theirs, identity)) return;
  throw new PgferryError(
    "ALREADY_STARTED",
    `The target holds a migration from another source (${display}).`,
    { side: "target" },
  );
}

/**
 * Prepare: preflight (first start only), the control schema, the migration row, the schema
 * and table list on the target, the capture on the source and S0. Each step is recorded on
 * the target, so a start after a kill skips what is done and redoes the step that was cut.
 * Returns false when stopped by the signal before prepare completed.
 */
export async function runPrepare(ctx: MigrationContext, opts: PrepareOptions = {}): Promise<boolean> {
  const target = await connect(ctx.target, { stage: "prepare" });
  const source = await connect(ctx.source, { stage: "prepare", statementTimeoutMs: 5 * 60_000 });
  try {
    const identity = await readSourceIdentity(source, ctx.source);
    // Taken before anything is read: a second process started at the same moment waits here,
    // then finds the migration prepared (and skips the preflight, whose empty-target rule
    // the first process's tables would break) and joins the copy.
    await lockPrepare(ctx, target);
    // Before anything is written: a source another migration captures is refused here, not
    // after the schema was applied (installCaptureSchema claims it under a lock).
    await refuseCapturedSource(
      source,
      (await hasMigration(target)) ? (await readMigration(target))!.token : null,
    );
    if (await hasMigration(target)) {
      const m = (await readMigration(target))!;
      assertSameSource(m.source_display, m.source_identity, identity);
      // Numbered control-schema files added since this migration began are applied on resume.
      await ensureControlSchema(target);
      if (m.phase !== "preparing") return true;
    } else if (!opts.skipCheck) {
      await preflight(ctx, opts);
    }
    ctx.emit({ type: "stage:start", stage: "prepare" });
    const started = Date.now();
    await ensureControlSchema(target);
    if ((await ensureMigrationRow(target, ctx, identity, opts)) !== "preparing") return true;
    if ((await countTables(target)) === 0) {
      const n = await applySchema(ctx, source, target, opts);
      ctx.emit({
        type: "log",
        level: "info",
        message: `Schema applied on the target; ${n} table(s) to copy.`,
      });
    }
    ctx.signal.throwIfAborted();
    const s0 = await installCapture(
      ctx,
      source,
      target,
      {
        lockTimeoutMs: opts.lockTimeoutMs ?? DDL_LOCK_TIMEOUT_MS,
        maxLockWaitMs: opts.maxLockWaitMs ?? 30 * 60_000,
      },
      { token: (await readMigration(target))!.token, label: ctx.target.display },
    );
    const tables = await countTables(target);
    // The raw snapshot means nothing to an operator: it stays in --json only.
    ctx.emit({
      type: "stage:done",
      stage: "prepare",
      message: `change capture on ${tables} table(s): every write from now on is recorded`,
      data: { startPosition: s0 },
      seconds: (Date.now() - started) / 1000,
    });
    return true;
  } catch (err) {
    if (ctx.signal.aborted) return false;
    // An event trigger of the user's firing on pgferry's DDL (a DDL freeze) is theirs, named.
    throw userCodeError(err, "prepare (the schema on the target, the capture on the source)") ?? err;
  } finally {
    // Ending the session releases the prepare lock.
    await Promise.all([target.end().catch(() => {}), source.end().catch(() => {})]);
  }
}

/** A source whose capture belongs to another migration than `token` (or to any, with none). */
async function refuseCapturedSource(source: pg.Client, token: string | null): Promise<void> {
  const owner = await readCaptureOwner(source);
  if (owner === "absent" || owner === null || owner.token === token) return;
  await assertCaptureOwner(source, token ?? "", "source");
}

async function lockPrepare(ctx: MigrationContext, target: pg.Client): Promise<void> {
  const got = await target.query<{ ok: boolean }>(PREPARE_TRY_LOCK);
  if (got.rows[0]?.ok) return;
  ctx.emit({
    type: "log",
    level: "info",
    message: "Another pgferry process is preparing this migration; waiting for it, then joining the copy.",
  });
  // A Ctrl-C while waiting closes the session, which cancels the wait.
  const onAbort = () => void target.end().catch(() => {});
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    await target.query(PREPARE_LOCK);
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
  }
}
