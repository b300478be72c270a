import type { StatusReport, TableStatus } from "../../progress/status-model.js";
import { CUT_OVER_PHASES, TABLE_PHASES } from "../../state/phases.js";
import { formatBytes, formatCount, formatDuration, percent } from "./format.js";

/** Table phases in pipeline order, then the migration's after the switch (status shows them per table). */
const PHASE_ORDER: readonly string[] = [...TABLE_PHASES, ...CUT_OVER_PHASES];

/** Bytes done, and the total while it is still an estimate (COPY text vs. on-disk size: "~"). */
function bytesOf(done: number, total: number): string {
  return total > done ? `${formatBytes(done)}/~${formatBytes(total)}` : formatBytes(done);
}

const NO_MIGRATION =
  "No pgferry migration on this target: none was started here, or it was cleaned up. `pgferry start` begins one.";

/** "fences: source up, target up (…)" — each side's write fence from the cutover on. */
export function fencesText(f: NonNullable<StatusReport["fences"]>): string {
  const both =
    f.source === "up" && f.target === "up" ? " (both fenced: writes are refused on both sides)" : "";
  const none = f.source === "down" && f.target === "down" ? " (neither fenced)" : "";
  return `fences: source ${f.source}, target ${f.target === "absent" ? "none" : f.target}${both}${none}`;
}

/** A running cutover or rollback, or an interrupted one and what to run. */
export function operationText(o: NonNullable<StatusReport["operation"]>): string {
  const at = o.step ? ` at step ${o.step}` : "";
  if (o.state === "running") return `${o.name} running${at}`;
  return `${o.name} interrupted${at}${o.switchStarted ? " after its switch started" : ""}: ${o.next}`;
}

/** Phases in which a `pgferry start` has work to do (the reverse stream only with a rollback window). */
function startNeeded(s: StatusReport): boolean {
  if (["preparing", "copying", "indexing", "streaming", "cutover"].includes(s.phase)) return true;
  return s.phase === "switched" && s.fences !== undefined && s.fences.target !== "absent";
}

/** "14:02:10 UTC" from an ISO time. */
function clockTime(iso: string): string {
  return `${iso.slice(11, 19)} UTC`;
}

/**
 * "no `pgferry start` has been running since 14:02:10 UTC; …" when none beat within the
 * staleness bound and one is needed; undefined otherwise.
 */
export function startText(s: StatusReport): string | undefined {
  if (s.startRunning || !startNeeded(s)) return undefined;
  const since = s.startLastSeenAt ? ` has been running since ${clockTime(s.startLastSeenAt)}` : " is running";
  const what =
    s.phase === "switched"
      ? "nothing streams the target's writes back to the source"
      : "nothing copies or streams, the lag grows";
  return `no \`pgferry start\`${since}: ${what} (run \`pgferry start\`)`;
}

/**
 * The overall line: phase, rows and bytes done of total, rate, ETA; with `alerts`, the fences
 * and a running or interrupted cutover or rollback too (otherwise they get lines of their own).
 */
export function summaryLine(s: StatusReport, alerts = true): string {
  if (s.phase === "none") return NO_MIGRATION;
  const c = s.copy;
  const parts = [`phase ${s.phase}`];
  if (s.phase === "preparing" || s.phase === "copying" || s.phase === "indexing") {
    parts.push(
      `${percent(c.rowsDone, c.rowsTotal)} of rows`,
      `${formatCount(c.rowsDone)}/${formatCount(c.rowsTotal)} rows`,
      `${bytesOf(c.bytesDone, c.bytesTotal)} copied`,
      `${formatBytes(c.bytesPerSecond)}/s`,
      `chunks ${c.chunksDone}/${c.chunksTotal}`,
    );
    if (s.phase !== "indexing")
      parts.push(`ETA ${c.etaSeconds === null ? "?" : formatDuration(c.etaSeconds)}`);
  }
  if (s.phase === "switched" || s.phase === "rolled-back") parts.push(...afterSwitchParts(s));
  else {
    if (s.lagSeconds !== null) parts.push(`lag ${s.lagSeconds.toFixed(1)}s`);
    if (s.pendingChanges !== null) parts.push(`${formatCount(s.pendingChanges)} pending changes`);
    if (s.stream.changesApplied > 0) parts.push(`${formatCount(s.stream.changesApplied)} changes applied`);
    if (s.changeLog) parts.push(`source change log ${formatBytes(s.changeLog.bytes)}`);
  }
  const start = startText(s);
  if (alerts && start) parts.push(start);
  if (alerts && s.fences) parts.push(fencesText(s.fences));
  if (alerts && s.operation) parts.push(operationText(s.operation));
  return parts.join(" · ");
}

/**
 * After the switch the forward stream's figures are over; in a rollback window the reverse
 * stream's are what matter: its lag, what the target holds that the source lacks, and until when.
 */
function afterSwitchParts(s: StatusReport): string[] {
  const r = s.reverse;
  if (!r) return s.phase === "switched" ? ["no rollback window: nothing streams"] : [];
  const parts = [`rollback window open until ${r.endsWith}`];
  parts.push(`reverse stream lag ${r.lagSeconds === null ? "?" : `${r.lagSeconds.toFixed(1)}s`}`);
  if (r.pendingChanges !== null)
    parts.push(`${formatCount(r.pendingChanges)} target change(s) still to bring back to the source`);
  parts.push(`${formatCount(r.changesApplied)} brought back`);
  return parts;
}

/** "tables: 2 copying, 5 copied, 1 indexing, 12 indexed". */
export function tablesLine(s: StatusReport): string {
  const counts = new Map<string, number>();
  for (const t of s.tables) counts.set(t.phase, (counts.get(t.phase) ?? 0) + 1);
  const phases = [...counts.keys()].sort((a, b) => rank(a) - rank(b));
  return `tables (${s.tables.length}): ${phases.map((p) => `${counts.get(p)} ${p}`).join(", ") || "none yet"}`;
}

function rank(phase: string): number {
  const i = PHASE_ORDER.indexOf(phase);
  return i < 0 ? PHASE_ORDER.length : i;
}

export function tableLine(t: TableStatus, nameWidth: number): string {
  const name = t.name.length > nameWidth ? `${t.name.slice(0, nameWidth - 1)}…` : t.name.padEnd(nameWidth);
  const rate = t.phase === "copying" && t.bytesPerSecond ? `  ${formatBytes(t.bytesPerSecond)}/s` : "";
  const paused = t.pausedReason ? `  (${t.pausedReason})` : "";
  return (
    `  ${name}  ${t.phase.padEnd(9)} ${percent(t.rowsDone, t.rowsTotal).padStart(4)}  ` +
    `${formatCount(t.rowsDone)}/${formatCount(t.rowsTotal)} rows  ${bytesOf(t.bytesDone, t.bytesTotal)}${rate}${paused}`
  );
}

/** Busiest first: tables being copied or indexed, then the biggest still to come. */
export function busiestTables(tables: readonly TableStatus[], max: number): TableStatus[] {
  const active = (t: TableStatus) => (t.phase === "copying" || t.phase === "indexing" ? 0 : 1);
  const waiting = (t: TableStatus) => (t.phase === "pending" || t.phase === "copied" ? 0 : 1);
  return [...tables]
    .sort(
      (a, b) =>
        active(a) - active(b) ||
        waiting(a) - waiting(b) ||
        (b.bytesPerSecond ?? 0) - (a.bytesPerSecond ?? 0) ||
        b.rowsTotal - a.rowsTotal,
    )
    .slice(0, max);
}

/**
 * The status as lines. With `fixed`, always exactly 3 + maxTables lines (blank-padded), so a
 * live view can redraw in place; otherwise every table (for `pgferry status`).
 */
export function statusLines(s: StatusReport, opts: { maxTables?: number; fixed?: boolean } = {}): string[] {
  if (s.phase === "none") return [NO_MIGRATION];
  const shown = opts.maxTables === undefined ? s.tables : busiestTables(s.tables, opts.maxTables);
  const nameWidth = Math.min(40, Math.max(10, ...shown.map((t) => t.name.length)));
  const alerts = opts.fixed
    ? []
    : [
        ...(startText(s) ? [startText(s)!] : []),
        ...(s.fences ? [fencesText(s.fences)] : []),
        ...(s.operation ? [operationText(s.operation)] : []),
      ];
  const lines = [
    summaryLine(s, opts.fixed === true),
    ...alerts,
    tablesLine(s),
    ...shown.map((t) => tableLine(t, nameWidth)),
  ];
  const lastError = s.errors[s.errors.length - 1];
  if (opts.fixed) {
    while (lines.length < 2 + (opts.maxTables ?? 0)) lines.push("");
    lines.push(lastError ? `last error ${lastError.at}: ${lastError.message}` : "");
  } else {
    for (const e of s.errors) lines.push(`error ${e.at}: ${e.message}`);
  }
  return lines;
}
