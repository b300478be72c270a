import type pg from "pg";
import type { MigrationContext } from "../context.js";
import { connect } from "../db/index.js";
import { isRetryable, sleep } from "../db/retry.js";
import { PgferryError, redact } from "../errors/index.js";
import { changesAfter } from "../positions/index.js";
import { type MigrationRow, migrationToken, readMigration, recordReverseRound } from "../state/index.js";
import { cleanupLog } from "./monitor.js";
import { RetryLoop } from "./retry.js";
import { applyRound } from "./reverse-apply.js";
import { rowApplySql, rowWindowPlan, truncateWholeSql } from "./row-sql.js";
import { syncSequencesOn } from "./sequences.js";
import { onSide, Session } from "./sessions.js";
import { windowWhere } from "./sql.js";
import { readStreamTables } from "./table-state.js";
import { resolveOptions, type StreamOptions, type StreamTable } from "./types.js";
import {
  copyWindow,
  keyWindowCopy,
  rowWindowCopy,
  truncateEntrySql,
  type WindowCopy,
  wholeTableCopy,
  windowSizeSql,
} from "./window-copy.js";

/**
 * The rollback window: after the switch the application writes to the target; pgferry
 * captures there (same triggers, same table ids) and applies to the old source, so switching
 * back loses nothing. Positions live on the apply side (the old source), in
 * pgferry.reverse_tables. Apply sessions set pgferry.apply to the migration's token: the source's fence lets them
 * through and its capture triggers do not log their writes back.
 *
 * Each round applies every table in ONE source transaction at one target snapshot, upserts
 * parents before children and deletes children before parents (the source has its foreign
 * keys), so the source is always a consistent past state of the target.
 */

/** Migration phases during which the reverse stream runs. */
const REVERSE_PHASES = ["cutover", "switched"];

class ReverseEngine {
  readonly capture: Session;
  readonly apply: Session;
  readonly control: Session;
  private order: Map<number, number> | undefined;

  /** Opens nothing yet: reads the migration's token, which the apply session writes with. */
  static async create(ctx: MigrationContext): Promise<ReverseEngine> {
    const tgt = await onSide("target", () => connect(ctx.target, { stage: "rollback" }));
    try {
      return new ReverseEngine(ctx, await onSide("target", () => migrationToken(tgt)));
    } finally {
      await tgt.end().catch(() => {});
    }
  }

  private constructor(
    readonly ctx: MigrationContext,
    applyToken: string,
  ) {
    this.capture = new Session(ctx.target, { stage: "rollback", statementTimeoutMs: 30 * 60_000 });
    this.apply = new Session(ctx.source, {
      stage: "rollback",
      statementTimeoutMs: 30 * 60_000,
      lockTimeoutMs: 10_000,
      settings: { "pgferry.apply": applyToken },
    });
    this.control = new Session(ctx.target, { stage: "rollback" });
  }

  async close(): Promise<void> {
    await Promise.all([this.capture.discard(), this.apply.discard(), this.control.discard()]);
  }

  /**
   * Applies everything the target committed up to now; returns the log rows and tables
   * applied, or `stopped` when the rollback window has ended (nothing applied).
   */
  async round(): Promise<{ changes: number; windows: number; position: string } | "stopped"> {
    const control = await onSide("target", () => this.control.get());
    const tables = await onSide("target", () => readStreamTables(control));
    const cap = await onSide("target", () => this.capture.get());
    const app = await onSide("source", () => this.apply.get());
    try {
      // Deferrable keys and unique constraints are checked at commit, when the source equals
      // the target as of q: values moved or swapped within the round then apply in any order.
      await onSide("source", () => app.query("begin; set constraints all deferred"));
      const pos = await onSide("source", () =>
        app.query<{ id: number; position: string }>(
          "select id, position from pgferry.reverse_tables for update",
        ),
      );
      // Checked under the positions' lock, which the rollback holds while it marks its switch:
      // a round either committed before the mark or sees it, never applies after the switch.
      if (await onSide("target", () => windowEnded(control))) {
        await this.apply.rollback();
        return "stopped";
      }
      // q is taken under the positions' lock, after the round that held it before committed:
      // it covers that round's q, so positions only move forward (taken before the lock, a
      // slower concurrent round could store an older q and have later rounds apply again).
      await onSide("target", () => cap.query("begin isolation level repeatable read read only"));
      const r = await onSide("target", () =>
        cap.query<{ q: string }>("select txid_current_snapshot()::text as q"),
      );
      const q = r.rows[0]!.q;
      const positions = new Map(pos.rows.map((p) => [p.id, p.position]));
      const work = tables
        .filter((t) => positions.has(t.id))
        .map((t) => ({ ...t, position: positions.get(t.id)! }));
      const heads = await this.heads(cap, work);
      const busy = work.filter((t) => heads.get(t.id)!.n > 0 || heads.get(t.id)!.truncs.length > 0);
      await this.applyBusy(cap, app, busy, heads);
      const ids = work.map((t) => t.id);
      await onSide("source", () =>
        app.query(
          `update pgferry.reverse_tables r set position = $2, changes_applied = r.changes_applied + x.n, applied_at = now()
             from unnest($1::int[], $3::int8[]) as x(id, n) where r.id = x.id`,
          [ids, q, ids.map((id) => heads.get(id)!.n)],
        ),
      );
      await onSide("source", () => app.query("commit"));
      await onSide("target", () => cap.query("commit"));
      const changes = busy.reduce((a, t) => a + heads.get(t.id)!.n, 0);
      await onSide("target", () => recordReverseRound(control, q, changes));
      return { changes, windows: busy.length, position: q };
    } catch (err) {
      await this.apply.rollback();
      await this.capture.rollback();
      throw err;
    }
  }

  private async heads(
    cap: pg.Client,
    work: StreamTable[],
  ): Promise<Map<number, { n: number; truncs: string[] }>> {
    const { rows } = await onSide("target", () =>
      cap.query<{ id: number; n: string; truncs: string[] }>(
        `select x.id,
                ${windowSizeSql(`c.tbl = x.id and ${changesAfter("x.p::txid_snapshot")}`)}
           from unnest($1::int[], $2::text[]) as x(id, p)`,
        [work.map((t) => t.id), work.map((t) => t.position)],
      ),
    );
    return new Map(rows.map((r) => [r.id, { n: Number(r.n), truncs: r.truncs }]));
  }

  private async applyBusy(
    cap: pg.Client,
    app: pg.Client,
    busy: StreamTable[],
    heads: Map<number, { n: number; truncs: string[] }>,
  ): Promise<void> {
    if (busy.length === 0) return;
    const keyed = busy.filter((t) => t.identity === "key");
    // A keyless table with a TRUNCATE in the round is copied whole from the target's snapshot
    // q; the others apply their net row counts (row-sql.ts).
    const plan = (t: StreamTable) =>
      t.identity === "row"
        ? rowWindowPlan({
            changes: heads.get(t.id)!.n,
            truncates: heads.get(t.id)!.truncs.length,
            recopy: false,
          })
        : "none";
    const recopied = busy.filter((t) => plan(t) === "copy");
    const netted = busy.filter((t) => plan(t) === "net");
    // TRUNCATEs first, all in one statement: tables truncated together satisfy their foreign keys.
    const truncs = [
      ...keyed.flatMap((t) =>
        heads.get(t.id)!.truncs.map((k) => truncateEntrySql(t, k).replace(/^truncate /, "")),
      ),
      ...recopied.map((t) => truncateWholeSql(t).replace(/^truncate /, "")),
    ];
    if (truncs.length > 0)
      await onSide("source", () => app.query(`truncate ${[...new Set(truncs)].join(", ")}`));
    for (const t of keyed) await this.copy(cap, app, keyWindowCopy(t, windowWhere(t.id, t.position)));
    for (const t of netted) await this.copy(cap, app, rowWindowCopy(t, windowWhere(t.id, t.position)));
    // Keyless rows leave before the keyed rows move (a join table's rows go before the rows
    // they point at) and arrive after (their parents are in by then): the source keeps its
    // foreign keys.
    const rowSql = netted.map((t) => rowApplySql(t));
    for (const r of rowSql) await onSide("source", () => app.query(r.del));
    const order = await this.fkOrder(app);
    const sorted = [...keyed].sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
    if (sorted.length > 0) await applyRound(app, sorted);
    for (const r of rowSql) await onSide("source", () => app.query(r.ins));
    for (const t of recopied) await this.copy(cap, app, wholeTableCopy(t));
  }

  /** One COPY from the target's capture session into the source's apply session. */
  private async copy(cap: pg.Client, app: pg.Client, copy: WindowCopy): Promise<void> {
    await copyWindow({ read: this.capture, write: this.apply }, cap, app, copy, "target");
  }

  /** Table id → rank: referenced tables (parents) before the tables that reference them. */
  private async fkOrder(app: pg.Client): Promise<Map<number, number>> {
    if (this.order) return this.order;
    const { rows } = await onSide("source", () =>
      app.query<{ child: number; parent: number }>(
        `select rc.id as child, rp.id as parent
           from pg_constraint k
           join pg_class cc on cc.oid = k.conrelid join pg_namespace cn on cn.oid = cc.relnamespace
           join pg_class pc on pc.oid = k.confrelid join pg_namespace pn on pn.oid = pc.relnamespace
           join pgferry.reverse_tables rc on rc.schema_name = cn.nspname and rc.table_name = cc.relname
           join pgferry.reverse_tables rp on rp.schema_name = pn.nspname and rp.table_name = pc.relname
          where k.contype = 'f' and rc.id <> rp.id`,
      ),
    );
    const ids = (
      await app.query<{ id: number }>("select id from pgferry.reverse_tables order by id")
    ).rows.map((r) => r.id);
    this.order = topoRank(ids, rows);
    return this.order;
  }
}

/**
 * The rollback window is over for the reverse stream: the migration left it, or the rollback's
 * switch has started (the application may write on the source again).
 */
function windowOver(m: MigrationRow | undefined): boolean {
  return !m || !REVERSE_PHASES.includes(m.phase) || Boolean(m.rollback_switch_started_at);
}

async function windowEnded(control: pg.ClientBase): Promise<boolean> {
  return windowOver(await readMigration(control));
}

/** Kahn's algorithm; tables in a cycle keep their id order after everything else. */
export function topoRank(ids: number[], edges: { child: number; parent: number }[]): Map<number, number> {
  const parents = new Map<number, Set<number>>(ids.map((id) => [id, new Set()]));
  for (const e of edges) parents.get(e.child)?.add(e.parent);
  const rank = new Map<number, number>();
  let next = 0;
  for (let progress = true; progress; ) {
    progress = false;
    for (const id of ids) {
      if (rank.has(id)) continue;
      if ([...parents.get(id)!].every((p) => rank.has(p) || !parents.has(p))) {
        rank.set(id, next++);
        progress = true;
      }
    }
  }
  for (const id of ids) if (!rank.has(id)) rank.set(id, next++);
  return rank;
}

/**
 * Runs the reverse stream until ctx.signal aborts or the migration leaves the rollback window
 * (phase other than 'cutover' / 'switched', or the rollback's switch started). Sequences follow back, and the target's log is
 * cleaned behind the applied positions.
 */
export async function runReverseStream(ctx: MigrationContext, opts: StreamOptions = {}): Promise<void> {
  const o = resolveOptions(opts);
  const engine = await ReverseEngine.create(ctx);
  const retry = new RetryLoop("reverse stream", ctx.emit, o.maxRetryMs);
  const last = { cleanup: 0, sequences: 0 };
  const totals = { changes: 0, windows: 0 };
  const started = Date.now();
  ctx.emit({
    type: "stage:start",
    stage: "reverse-stream",
    message: "streaming the target's writes back to the source",
  });
  try {
    while (!ctx.signal.aborted) {
      try {
        const control = await onSide("target", () => engine.control.get());
        const m = await onSide("target", () => readMigration(control));
        if (!m || windowOver(m)) break;
        if (!m.rollback_window) {
          // Cutover has not installed the target's capture yet.
          await sleep(o.windowIntervalMs, ctx.signal);
          continue;
        }
        const began = performance.now();
        const r = await engine.round();
        if (r === "stopped") break;
        if (r.changes > 0) {
          const seconds = (performance.now() - began) / 1000;
          ctx.emit({ type: "stream:window", direction: "reverse", changes: r.changes, seconds });
        }
        totals.changes += r.changes;
        totals.windows += r.windows;
        await maintain(engine, o, last);
        await retry.succeeded(control);
      } catch (err) {
        if (!isRetryable(err)) throw streamFailedReverse(err);
        await engine.close();
        await retry.failed(err, ctx.signal);
        continue;
      }
      await sleep(o.windowIntervalMs, ctx.signal);
    }
  } finally {
    await engine.close();
  }
  ctx.emit({
    type: "stage:done",
    stage: "reverse-stream",
    message: `${totals.changes} change(s) streamed back in ${totals.windows} window(s)`,
    seconds: (Date.now() - started) / 1000,
  });
}

async function maintain(
  engine: ReverseEngine,
  o: ReturnType<typeof resolveOptions>,
  last: { cleanup: number; sequences: number },
): Promise<void> {
  const now = Date.now();
  if (now - last.sequences >= o.sequenceSyncIntervalMs) {
    last.sequences = now;
    const control = await onSide("target", () => engine.control.get());
    const app = await onSide("source", () => engine.apply.get());
    await syncSequencesOn({ from: control, to: app, control, reverse: true, gap: 0 });
  }
  if (now - last.cleanup >= o.cleanupIntervalMs) {
    last.cleanup = now;
    const app = await onSide("source", () => engine.apply.get());
    const { rows } = await onSide("source", () =>
      app.query<{ id: number; position: string }>("select id, position from pgferry.reverse_tables"),
    );
    const control = await onSide("target", () => engine.control.get());
    await onSide("target", () => cleanupLog(control, rows, o.cleanupBatch, 1000));
  }
}

/**
 * Applies everything the target committed up to now to the source, once (at rollback, after
 * the target was fenced and drained: the source then equals the target). Sequences too.
 */
export async function catchUpReverse(
  ctx: MigrationContext,
  opts: StreamOptions = {},
): Promise<{ changes: number; windows: number }> {
  const o = resolveOptions(opts);
  const engine = await ReverseEngine.create(ctx);
  const retry = new RetryLoop("reverse catch-up", ctx.emit, o.maxRetryMs);
  try {
    for (;;) {
      ctx.signal.throwIfAborted();
      try {
        const r = await engine.round();
        if (r === "stopped") {
          throw new PgferryError(
            "STREAM_FAILED",
            "The rollback window has ended (the rollback's switch has started): nothing is applied to the source any more.",
            { side: "target" },
          );
        }
        const control = await engine.control.get();
        const app = await engine.apply.get();
        await syncSequencesOn({ from: control, to: app, control, reverse: true, gap: 0 });
        await retry.succeeded(control);
        return { changes: r.changes, windows: r.windows };
      } catch (err) {
        if (!isRetryable(err)) throw streamFailedReverse(err);
        await engine.close();
        await retry.failed(err, ctx.signal);
      }
    }
  } finally {
    await engine.close();
  }
}

function streamFailedReverse(err: unknown): PgferryError {
  if (err instanceof PgferryError) return err;
  return new PgferryError(
    "STREAM_FAILED",
    `Streaming back to the source failed: ${redact((err as Error)?.message ?? String(err))}`,
    {
      cause: err,
      hint: "Fix the cause shown, then run the rollback (or cutover's reverse stream) again; it resumes from the positions on the source.",
    },
  );
}
