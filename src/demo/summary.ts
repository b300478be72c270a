import { formatBytes } from "../progress/units.js";
/** What `pgferry demo` measured, end to end. Printed as text, or as the last NDJSON event. */
export interface DemoSummary {
  ok: boolean;
  size: string;
  source: { major: number; url: string };
  target: { major: number; url: string };
  /** Seconds per demo step (servers, load, check, start, stream, verify, cutover, app, cleanup). */
  seconds: Record<string, number>;
  totalSeconds: number;
  sample: { rows: number; tables: number };
  copy: {
    rows: number;
    bytes: number;
    seconds: number;
    bytesPerSecond: number;
    rowsPerSecond: number;
  } | null;
  stream: { lagMedianSeconds: number | null; lagMaxSeconds: number | null; changesApplied: number } | null;
  verify: { identical: boolean; tables: number; rows: number } | null;
  cutover: { unavailableMs: number | null; appUnavailableMs: number | null; refusedWrites: number } | null;
  writes: {
    acknowledged: number;
    onSource: number;
    onTarget: number;
    inserts: number;
    updates: number;
    deletes: number;
    reads: number;
    errors: number;
    firstError: string | null;
  };
  /** Acknowledged writes checked one by one on the target, and how many it lacks. */
  lost: { checked: number; lost: number; examples: string[] } | null;
  cleaned: boolean;
  /** Stages the demo could not run, and why (it stops honestly after the last one that works). */
  notRun: { stage: string; reason: string }[];
}

type Paint = (style: "green" | "red" | "yellow" | "bold" | "dim", text: string) => string;

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

function secs(s: number): string {
  return s >= 100 ? `${Math.round(s)} s` : `${s.toFixed(1)} s`;
}

function ms(v: number | null): string {
  if (v === null) return "n/a";
  return v >= 10_000 ? secs(v / 1000) : `${formatCount(v)} ms`;
}

/** The summary as lines of text (no trailing newline); colour only through `paint`. */
export function formatSummary(s: DemoSummary, paint: Paint): string[] {
  const row = (label: string, value: string) => `  ${label.padEnd(24)}${value}`;
  const lines = [
    "",
    paint(
      "bold",
      `Summary: PostgreSQL ${s.source.major} → ${s.target.major}, ${s.size} sample, ${secs(s.totalSeconds)} in all`,
    ),
  ];
  if (s.copy) {
    lines.push(
      row(
        "Moved",
        `${formatCount(s.copy.rows)} rows, ${formatBytes(s.copy.bytes)} in ${secs(s.copy.seconds)}`,
      ),
      row(
        "Copy rate",
        `${formatBytes(s.copy.bytesPerSecond)}/s, ${formatCount(s.copy.rowsPerSecond)} rows/s`,
      ),
    );
  }
  if (s.stream) {
    const { lagMedianSeconds: mid, lagMaxSeconds: max } = s.stream;
    const lag =
      mid === null || max === null ? "n/a" : `${mid.toFixed(1)} s typical, ${max.toFixed(1)} s at most`;
    lines.push(
      row("Lag while streaming", `${lag}; ${formatCount(s.stream.changesApplied)} changes replayed`),
    );
  }
  if (s.verify) {
    const v = s.verify.identical
      ? paint("green", `identical (${s.verify.tables} tables, ${formatCount(s.verify.rows)} rows)`)
      : paint("red", "DIFFERENCES FOUND");
    lines.push(row("Verify", v));
  }
  if (s.cutover) {
    lines.push(
      row("Writes unavailable", `${ms(s.cutover.unavailableMs)} (measured by pgferry)`),
      row(
        "",
        `${ms(s.cutover.appUnavailableMs)} as the app saw it; ${formatCount(s.cutover.refusedWrites)} refused attempts, all retried`,
      ),
    );
  }
  const w = s.writes;
  lines.push(
    row(
      "App writes",
      `${formatCount(w.acknowledged)} acknowledged (${formatCount(w.inserts)} inserts, ${formatCount(w.updates)} updates, ${formatCount(w.deletes)} deletes)`,
    ),
    row(
      "",
      `${formatCount(w.onSource)} on the source, ${formatCount(w.onTarget)} on the target after the switch; ${formatCount(w.reads)} reads`,
    ),
  );
  if (w.errors > 0) lines.push(row("App errors", paint("red", `${w.errors}: ${w.firstError ?? ""}`)));
  if (s.lost) {
    const text = `${formatCount(s.lost.lost)} of ${formatCount(s.lost.checked)} (every acknowledged write checked on the target)`;
    lines.push(row("Lost writes", s.lost.lost === 0 ? paint("green", text) : paint("red", text)));
    for (const e of s.lost.examples) lines.push(row("", paint("red", e)));
  }
  if (s.cleaned) lines.push(row("Cleanup", "no pgferry trigger, function or schema left on either side"));
  for (const n of s.notRun) lines.push(row("Not run", paint("yellow", `${n.stage}: ${n.reason}`)));
  return lines;
}
