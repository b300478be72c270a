import {
  type CheckReport,
  type ExtensionSummary,
  type Finding,
  formatBytes,
  type ServerSummary,
  type TableSummary,
} from "../../check/index.js";
import { type Output, paint, type Style } from "../output.js";

const TOP_TABLES = 10;

/** The human form of a check report: servers, sizes, extensions, then findings by severity. */
export function renderCheckReport(report: CheckReport, out: Pick<Output, "color">): string[] {
  const lines: string[] = [];
  lines.push(...server(out, "Source", report.source as ServerSummary));
  lines.push(...server(out, "Target", report.target as ServerSummary));
  if (report.pgDump) {
    lines.push(`${label(out, "pg_dump")}${report.pgDump.version} (${report.pgDump.path})`);
  }
  lines.push("", ...tables(out, report));
  if (report.extensions.length > 0) lines.push("", ...extensions(out, report.extensions));
  lines.push(...section(out, "Blockers", "red", "BLOCKER", report.blockers));
  lines.push(...section(out, "Warnings", "yellow", "WARNING", report.warnings));
  lines.push(...section(out, "Notes", "cyan", "NOTE", report.info));
  lines.push("", verdict(out, report));
  return lines;
}

function label(out: Pick<Output, "color">, text: string): string {
  return paint(out, "bold", text.padEnd(11));
}

function server(out: Pick<Output, "color">, name: string, s: ServerSummary): string[] {
  if (!s.url) return [];
  const facts = [
    `PostgreSQL ${s.version}`,
    `user ${s.user}${s.superuser ? " (superuser)" : ""}`,
    s.ssl ? "SSL" : "no SSL",
  ];
  if (s.connections) {
    facts.push(
      `${s.connections.available} free connections of ${s.connections.maxConnections} (pgferry needs ${s.connections.needed})`,
    );
  }
  return [`${label(out, name)}${s.url}`, `${" ".repeat(11)}${facts.join(" · ")}`];
}

function tables(out: Pick<Output, "color">, report: CheckReport): string[] {
  const t = report.totals;
  const excluded = t.excludedTables > 0 ? `, ${t.excludedTables} excluded` : "";
  const lo =
    t.largeObjects > 0 ? `, ${count(t.largeObjects)} large object${t.largeObjects === 1 ? "" : "s"}` : "";
  const lines = [
    `${label(out, "Tables")}${count(t.tables)} table${t.tables === 1 ? "" : "s"}, ~${count(t.rowsEstimate)} rows, ${formatBytes(t.bytes)}${excluded}${lo}`,
  ];
  const top = report.tables.slice(0, TOP_TABLES);
  if (top.length === 0) return lines;
  lines.push(paint(out, "dim", `  largest ${top.length}:`));
  const rows = top.map((x) => [x.name, `~${count(x.rowsEstimate)} rows`, formatBytes(x.bytes), keyText(x)]);
  lines.push(...columns(rows, [false, true, true, false]).map((l) => `    ${l}`));
  return lines;
}

function keyText(t: TableSummary): string {
  if (!t.key) return "no key: full row";
  return t.keyKind === "primary" ? `key (${t.key.join(", ")})` : `unique ${t.keyIndex} (${t.key.join(", ")})`;
}

function extensions(out: Pick<Output, "color">, list: ExtensionSummary[]): string[] {
  const rows = list.map((e) => [
    e.name,
    e.version,
    `in ${e.schema}`,
    !e.availableOnTarget
      ? paint(out, "red", "missing on the target")
      : e.installedOnTarget
        ? "installed on the target"
        : e.creatableOnTarget
          ? `available on the target (${e.targetDefaultVersion})`
          : paint(out, "yellow", "available, needs an administrator to create it"),
  ]);
  return [
    paint(out, "bold", "Extensions"),
    ...columns(rows, [false, false, false, false]).map((l) => `    ${l}`),
  ];
}

function section(
  out: Pick<Output, "color">,
  title: string,
  style: Style,
  tag: string,
  list: Finding[],
): string[] {
  if (list.length === 0) return [];
  const lines = ["", paint(out, "bold", `${title} (${list.length})`)];
  for (const f of list) {
    lines.push(`  ${paint(out, style, tag)} ${paint(out, "bold", f.code)}${f.table ? `  ${f.table}` : ""}`);
    lines.push(`    ${f.message}`);
    lines.push(`    ${paint(out, "dim", "fix:")} ${f.fix}`);
  }
  return lines;
}

function verdict(out: Pick<Output, "color">, r: CheckReport): string {
  const extra = r.warnings.length > 0 ? `; read the ${r.warnings.length} warning(s) above` : "";
  if (r.ok) return paint(out, "green", `Ready: no blockers${extra}.`);
  return paint(
    out,
    "red",
    `Not ready: ${r.blockers.length} blocker(s). Fix them and run \`pgferry check\` again.`,
  );
}

/** Pads cells so columns line up; `right` marks right-aligned columns. Colour codes are not counted. */
function columns(rows: string[][], right: boolean[]): string[] {
  const width = (s: string) => s.replace(/\u001b\[\d+m/g, "").length;
  const widths = right.map((_, i) => Math.max(...rows.map((r) => width(r[i] ?? ""))));
  return rows.map((r) =>
    r
      .map((cell, i) => {
        const pad = " ".repeat(widths[i]! - width(cell));
        return right[i] ? pad + cell : i === r.length - 1 ? cell : cell + pad;
      })
      .join("  "),
  );
}

function count(n: number): string {
  return n.toLocaleString("en-US");
}
