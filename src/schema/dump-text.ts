import { type LexState, scan, TOP } from "./sql-lexer.js";

/** One TOC entry of a plain-format pg_dump, as announced by its `-- Name: …; Type: …` header. */
export interface DumpEntry {
  /** The header's Name (pg_dump's unquoted tag, e.g. "accounts accounts_pkey"). */
  tag: string;
  /** The header's Type: TABLE, INDEX, FK CONSTRAINT, INDEX ATTACH, … */
  type: string;
  /** The header's Schema ("" for "-"). */
  schema: string;
  /** The SQL of the entry, up to the next header. */
  sql: string;
}

export interface SplitDump {
  /** Everything before the first entry: the session SETs. */
  preamble: string;
  entries: DumpEntry[];
}

const HEADER = /^-- Name: (.*); Type: ([A-Z][A-Z ]*); Schema: (.*); Owner: (.*)$/;

/**
 * Cuts a plain-format pg_dump into its entries. A header is only recognised at top level (a
 * function body that happens to contain the same comment lines is not cut), and psql
 * meta-command lines at top level (`\restrict`, `\unrestrict`, `\connect`) are dropped: the
 * text is run by a driver, not by psql.
 */
export function splitDump(text: string): SplitDump {
  const lines = text.split("\n");
  const entries: DumpEntry[] = [];
  let preamble: string[] = [];
  let current: { head: Omit<DumpEntry, "sql">; lines: string[] } | undefined;
  let state: LexState = TOP;
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (state.in === "top") {
      const header = line === "--" && lines[n + 2] === "--" ? HEADER.exec(lines[n + 1] ?? "") : null;
      if (header) {
        if (current) entries.push(finish(current));
        current = {
          head: { tag: header[1]!, type: header[2]!, schema: header[3] === "-" ? "" : header[3]! },
          lines: [],
        };
        n += 2;
        continue;
      }
      if (line.startsWith("\\")) continue;
    }
    (current ? current.lines : preamble).push(line);
    state = scan(`${line}\n`, state);
  }
  if (current) entries.push(finish(current));
  preamble = trimDumpComments(preamble);
  return { preamble: preamble.join("\n").trim(), entries };
}

function finish(current: { head: Omit<DumpEntry, "sql">; lines: string[] }): DumpEntry {
  return { ...current.head, sql: current.lines.join("\n").trim() };
}

/** Drops pg_dump's banner comment lines from the preamble (they are noise in stored SQL). */
function trimDumpComments(lines: string[]): string[] {
  return lines.filter((l) => !/^--( PostgreSQL database dump| Dumped (from|by) |$)/.test(l) && l !== "--");
}

/** Joins entries back into runnable text, each with its header (so the text can be split again). */
export function joinDump(dump: SplitDump): string {
  const parts = [dump.preamble];
  for (const e of dump.entries) {
    parts.push(
      `--\n-- Name: ${e.tag}; Type: ${e.type}; Schema: ${e.schema || "-"}; Owner: -\n--\n\n${e.sql}`,
    );
  }
  return `${parts.join("\n\n\n")}\n`;
}
