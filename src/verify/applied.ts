import type pg from "pg";
import { sleep } from "../db/index.js";
import { parseSnapshot, snapshotCovers } from "../positions/index.js";
import type { EventSink } from "../progress/events.js";
import { APPLIED_PHASES, phaseIn, readApplyState } from "../state/index.js";
import { tableName, type VerifyTable } from "./table-sql.js";

/** Whether the target's position for a table came to cover a source snapshot, and if not why. */
export type Applied = { applied: true } | { applied: false; reason: string };

/** Waits for a table's changes up to a source snapshot to be applied on the target. */
export type AwaitApplied = (t: VerifyTable, snapshot: string, keys: number) => Promise<Applied>;

const POLL_MS = 200;
/** Migration phases in which something applies the source's log to the target. */
const APPLYING_MIGRATION_PHASES = ["preparing", "copying", "indexing", "streaming", "cutover"];
/**
 * Target sessions that apply the source's log: the forward stream's, and the cutover's (its
 * catch-up). application_name is visible in pg_stat_activity to every role.
 */
const APPLIER_SESSIONS = ["pgferry:stream", "pgferry:cutover"];

interface State {
  position: string | null;
  phase: string;
  paused_reason: string | null;
  migration_phase: string;
  applier: boolean;
}

/**
 * Why nothing will apply the table's log now, or null while something may. A guess used only
 * to stop waiting early: what decides is whether the position covers the snapshot.
 */
function nothingApplies(s: State): string | null {
  if (s.phase === "paused") return `the table is paused: ${s.paused_reason ?? "no reason recorded"}`;
  if (!APPLYING_MIGRATION_PHASES.includes(s.migration_phase))
    return `the migration is ${s.migration_phase}: nothing applies the source's changes to the target any more`;
  if (!phaseIn(APPLIED_PHASES, s.phase))
    return `the table is ${s.phase}: its changes are applied once it is copied and indexed and \`pgferry start\` streams`;
  if (!s.applier)
    return "no `pgferry start` is streaming into this target: is it running? (started with --no-stream, stopped, or reconnecting after an error)";
  return null;
}

/**
 * One direction of the wait: the following side's position for a table, why nothing will
 * apply the leading side's log to it now, and the words the events use.
 */
export interface ApplyDirection {
  /**
   * The table's position on the following side, and `stopped`: why nothing will apply its log
   * now, or null while something may (asked only while the position falls short). Undefined:
   * the table is no longer in the migration.
   */
  poll(
    tableId: number,
  ): Promise<{ position: string | null; stopped: () => Promise<string | null> } | undefined>;
  /** Why the wait gave up after `timeoutMs`, with whether the position moved meanwhile. */
  timedOut(timeoutMs: number, moved: boolean): string;
  /** "" forward, " back" in reverse: "applied back after …", "not applied back: …". */
  back: string;
  /** What applies: "the stream", "the reverse stream". */
  stream: string;
  /** The side that leads (whose changes are waited for) and the one that follows. */
  leads: "source" | "target";
  follows: "source" | "target";
}

/**
 * An AwaitApplied in one direction: polls the table's position on the following side until it
 * covers the leading side's snapshot, for at most `timeoutMs`, and gives up at once when
 * nothing applies the log. A table that failed once is not waited for again in this run: the
 * same reason is returned.
 */
export function directedApplyWaiter(
  dir: ApplyDirection,
  opts: { timeoutMs: number; emit: EventSink; signal?: AbortSignal },
): AwaitApplied {
  const failed = new Map<number, string>();
  return async (t, snapshot, keys) => {
    if (t.id === null)
      return { applied: false, reason: "the target holds no migration state for this table" };
    const known = failed.get(t.id);
    if (known) return { applied: false, reason: known };
    const wanted = parseSnapshot(snapshot);
    const started = Date.now();
    let announced = false;
    let first: string | null | undefined;
    for (;;) {
      opts.signal?.throwIfAborted();
      const s = await dir.poll(t.id);
      if (!s) return { applied: false, reason: "the table is no longer in the migration" };
      if (first === undefined) first = s.position;
      if (s.position && snapshotCovers(parseSnapshot(s.position), wanted)) {
        if (announced) emitLog(opts.emit, t, "info", `applied${dir.back} after ${seconds(started)} s`);
        return { applied: true };
      }
      let reason = await s.stopped();
      if (!reason && Date.now() - started > opts.timeoutMs)
        reason = dir.timedOut(opts.timeoutMs, s.position !== first);
      if (reason) {
        failed.set(t.id, reason);
        if (announced) emitLog(opts.emit, t, "warn", `not applied${dir.back}: ${reason}`);
        return { applied: false, reason };
      }
      if (!announced) {
        announced = true;
        const what =
          keys > 0
            ? `${keys} key${keys === 1 ? "" : "s"} changed on the ${dir.leads} after the ${dir.follows}'s position`
            : `the ${dir.leads}'s changes up to verify's read of a differing range`;
        emitLog(
          opts.emit,
          t,
          "info",
          `waiting (at most ${opts.timeoutMs / 1000} s) for ${dir.stream} to apply ${what}`,
        );
      }
      await sleep(POLL_MS, opts.signal);
    }
  };
}

/**
 * An AwaitApplied over one target session, for the forward stream: the table's stored
 * position on the target against a source snapshot; gives up at once when no stream session
 * is on the target, the table is paused, or the migration is past its switch.
 */
export function applyWaiter(
  target: pg.ClientBase,
  opts: { timeoutMs: number; emit: EventSink; signal?: AbortSignal },
): AwaitApplied {
  return directedApplyWaiter(
    {
      async poll(tableId) {
        const s: State | undefined = await readApplyState(target, tableId, APPLIER_SESSIONS);
        return s && { position: s.position, stopped: async () => nothingApplies(s) };
      },
      timedOut: (timeoutMs, moved) =>
        moved
          ? `the stream did not catch up with this table within ${timeoutMs / 1000} s (lagging): run verify again once \`pgferry status\` shows a small lag`
          : `the stream did not advance this table within ${timeoutMs / 1000} s (stalled, or busy with other tables): see \`pgferry status\``,
      back: "",
      stream: "the stream",
      leads: "source",
      follows: "target",
    },
    opts,
  );
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}

function emitLog(emit: EventSink, t: VerifyTable, level: "info" | "warn", message: string): void {
  emit({ type: "log", level, message, table: tableName(t) });
}
