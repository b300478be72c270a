export { formatBytes } from "../../progress/units.js";
/** Human formats for the progress views (sizes: progress/units.ts, SI as --max-rate). */

export function formatCount(n: number): string {
  const v = Math.max(0, n);
  if (v < 1000) return String(Math.round(v));
  if (v < 1e6) return `${(v / 1e3).toFixed(v < 1e4 ? 1 : 0)}k`;
  if (v < 1e9) return `${(v / 1e6).toFixed(v < 1e7 ? 1 : 0)}M`;
  return `${(v / 1e9).toFixed(1)}G`;
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, "0")}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, "0")}m`;
}

export function percent(done: number, total: number): string {
  if (total <= 0) return done > 0 ? "100%" : "0%";
  return `${Math.min(100, Math.floor((100 * done) / total))}%`;
}

/** Cuts a line to the terminal width (a wrapped line would break the in-place redraw). */
export function fitWidth(line: string, width: number): string {
  const chars = [...line];
  return chars.length <= width ? line : `${chars.slice(0, Math.max(0, width - 1)).join("")}…`;
}
