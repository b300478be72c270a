import { PgferryError } from "../errors/index.js";

/**
 * Table patterns: `schema.table`, with `*` and `?` wildcards in either part (`public.*`,
 * `audit.events`, `*.log_?`). A pattern without a dot matches the table name in any schema.
 * Double quotes make what they enclose literal, as in SQL and psql: `public."has.dot"`,
 * `"My Schema"."a,b*"`, with `""` for a quote inside; a quoted part may hold any character
 * (a newline too), so every real table name can be written (issue 12). Matching is
 * case-sensitive either way.
 */
export interface TableFilter {
  include?: readonly string[];
  exclude?: readonly string[];
}

/** One part of a pattern as a regex body: quoted runs literal, `*` and `?` wildcards outside them. */
type Part = string;

function badPattern(pattern: string, why: string): PgferryError {
  return new PgferryError("BAD_OPTION", `Bad table pattern ${JSON.stringify(pattern)}: ${why}.`, {
    side: "local",
    hint: 'Use schema.table, with * wildcards: public.*, audit.events; double-quote a name holding a dot, comma, quote or wildcard: public."has.dot" (write a quote inside as "").',
  });
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A run of a pattern's part: quoted (literal, `""` already undone) or not (wildcards live). */
interface Run {
  text: string;
  quoted: boolean;
}

/** Splits a pattern on its unquoted dots into parts made of runs; a string says what is wrong. */
function splitParts(pattern: string): Run[][] | string {
  const parts: Run[][] = [];
  let runs: Run[] = [];
  let i = 0;
  const text = pattern.trim();
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '"') {
      const close = closingQuote(text, i + 1);
      if (close < 0) return "a double quote is not closed";
      if (close === i + 1) return "an empty quoted name";
      runs.push({ text: text.slice(i + 1, close).replace(/""/g, '"'), quoted: true });
      i = close + 1;
    } else if (ch === ".") {
      if (runs.length === 0) return "an empty part";
      parts.push(runs);
      runs = [];
      i++;
    } else {
      runs.push({ text: ch, quoted: false });
      i++;
    }
  }
  if (runs.length === 0) return parts.length === 0 ? "it is empty" : "an empty part";
  parts.push(runs);
  return parts;
}

/** A pattern's parts as regex bodies: quoted runs literal, `*` and `?` wildcards outside them. */
function parseParts(pattern: string): Part[] {
  const parts = splitParts(pattern);
  if (typeof parts === "string") throw badPattern(pattern, parts);
  if (parts.length > 2) throw badPattern(pattern, "more than one unquoted dot (quote a name that holds one)");
  return parts.map((runs) =>
    runs
      .map((r) =>
        r.quoted ? escapeRegex(r.text) : r.text === "*" ? ".*" : r.text === "?" ? "." : escapeRegex(r.text),
      )
      .join(""),
  );
}

/** Index of the quote closing the quoted run that starts at `from`, or -1. */
function closingQuote(text: string, from: number): number {
  let j = from;
  while (j < text.length) {
    if (text[j] === '"') {
      if (text[j + 1] === '"') j += 2;
      else return j;
    } else j++;
  }
  return -1;
}

function compile(pattern: string): (schema: string, name: string) => boolean {
  const parts = parseParts(pattern).map((b) => new RegExp(`^${b}$`, "s"));
  if (parts.length === 1) {
    const rn = parts[0]!;
    return (_s, n) => rn.test(n);
  }
  const [rs, rn] = parts as [RegExp, RegExp];
  return (s, n) => rs.test(s) && rn.test(n);
}

export function tableMatcher(filter: TableFilter): (schema: string, name: string) => boolean {
  const inc = (filter.include ?? []).map(compile);
  const exc = (filter.exclude ?? []).map(compile);
  return (s, n) => (inc.length === 0 || inc.some((m) => m(s, n))) && !exc.some((m) => m(s, n));
}

/** Parses a comma-separated list of patterns from a flag; a comma inside double quotes is part of a name. */
export function parsePatterns(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const out: string[] = [];
  let current = "";
  let quoted = false;
  for (const ch of value) {
    if (ch === '"') quoted = !quoted;
    if (ch === "," && !quoted) {
      out.push(current);
      current = "";
    } else current += ch;
  }
  out.push(current);
  return out.map((s) => s.trim()).filter(Boolean);
}

/** A part of a pattern that matches exactly `name`: bare when that is unambiguous, else quoted. */
function exactPart(name: string): string {
  return /^[^".*?,\s]+$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** The pattern that matches exactly this table, for a fix to print: `public.items`, `public."has.dot"`. */
export function exactPattern(schema: string, name: string): string {
  return `${exactPart(schema)}.${exactPart(name)}`;
}

/** A word as a POSIX shell takes it: single-quoted whenever it needs to be. */
function shellWord(value: string): string {
  return /^[A-Za-z0-9_.,*-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** `--exclude <pattern>` as a POSIX shell takes it: single-quoted whenever the pattern needs it. */
export function excludeFlag(tables: readonly { schema: string; name: string }[]): string {
  return `--exclude ${shellWord(tables.map((t) => exactPattern(t.schema, t.name)).join(","))}`;
}

/** One table's name as an argument of a printed command (`pgferry tables add …`), shell-quoted. */
export function tableArg(schema: string, name: string): string {
  return shellWord(exactPattern(schema, name));
}

/**
 * One table named exactly, `schema.table` (`pgferry tables add/remove`): the pattern syntax
 * without wildcards, so a quoted part holds any character (`public."has.dot"`). Null when the
 * text is not exactly two parts or uses a wildcard outside quotes.
 */
export function parseExactName(text: string): { schema: string; name: string } | null {
  const parts = splitParts(text);
  if (typeof parts === "string" || parts.length !== 2) return null;
  if (parts.some((runs) => runs.some((r) => !r.quoted && (r.text === "*" || r.text === "?")))) return null;
  const [schema, name] = parts.map((runs) => runs.map((r) => r.text).join("")) as [string, string];
  return { schema, name };
}
