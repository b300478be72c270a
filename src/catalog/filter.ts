import { PgferryError } from "../errors/index.js";

/**
 * Table patterns: `schema.table`, with `*` and `?` wildcards in either part (`public.*`,
 * `audit.events`, `*.log_?`). A pattern without a dot matches the table name in any schema.
 */
export interface TableFilter {
  include?: readonly string[];
  exclude?: readonly string[];
}

function toRegex(part: string): RegExp {
  const body = part
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

function compile(pattern: string): (schema: string, name: string) => boolean {
  const p = pattern.trim();
  if (!p || p.split(".").length > 2) {
    throw new PgferryError("BAD_OPTION", `Bad table pattern "${pattern}".`, {
      side: "local",
      hint: "Use schema.table, with * wildcards: public.*, audit.events.",
    });
  }
  const [a, b] = p.split(".") as [string, string | undefined];
  if (b === undefined) {
    const re = toRegex(a);
    return (_s, n) => re.test(n);
  }
  const rs = toRegex(a);
  const rn = toRegex(b);
  return (s, n) => rs.test(s) && rn.test(n);
}

export function tableMatcher(filter: TableFilter): (schema: string, name: string) => boolean {
  const inc = (filter.include ?? []).map(compile);
  const exc = (filter.exclude ?? []).map(compile);
  return (s, n) => (inc.length === 0 || inc.some((m) => m(s, n))) && !exc.some((m) => m(s, n));
}

/** Parses a comma-separated list of patterns from a flag. */
export function parsePatterns(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
