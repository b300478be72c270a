import { splitStatements, TokenReader } from "./sql-lexer.js";

export interface ConstraintAsIndex {
  /** CREATE UNIQUE INDEX …, in the exact form pg_get_indexdef prints for the constraint's index. */
  indexStatement: string;
  /** ALTER TABLE … ADD CONSTRAINT … USING INDEX …, then any follow-up statements of the entry. */
  constraintStatement: string;
}

/**
 * Rewrites a pg_dump `ALTER TABLE … ADD CONSTRAINT n PRIMARY KEY|UNIQUE (…)` entry as an index
 * build plus a USING INDEX attach. ADD CONSTRAINT builds the index under an ACCESS EXCLUSIVE
 * lock, so nothing else can be built on the table meanwhile; CREATE UNIQUE INDEX takes only a
 * SHARE lock, and the attach afterwards is a catalog change. Returns undefined for anything
 * it does not recognise entirely (the caller then runs the entry as dumped).
 */
export function constraintAsIndex(statement: string): ConstraintAsIndex | undefined {
  const [first, ...rest] = splitStatements(statement);
  if (!first) return undefined;
  try {
    const r = new TokenReader(first);
    r.expect("alter", "table");
    const only = r.accept("only");
    const rel = r.qualifiedName();
    r.expect("add", "constraint");
    const name = r.nameToken().raw;
    let kind: string;
    let nullsNotDistinct = false;
    if (r.accept("primary", "key")) kind = "PRIMARY KEY";
    else if (r.accept("unique")) {
      kind = "UNIQUE";
      if (r.accept("nulls", "not", "distinct")) nullsNotDistinct = true;
      else r.accept("nulls", "distinct");
    } else return undefined;
    const columns = r.group();
    const include = r.accept("include") ? r.group() : undefined;
    const withOptions = r.accept("with") ? r.group() : undefined;
    const timing: string[] = [];
    for (;;) {
      if (r.accept("deferrable")) timing.push("DEFERRABLE");
      else if (r.accept("not", "deferrable")) timing.push("NOT DEFERRABLE");
      else if (r.accept("initially", "deferred")) timing.push("INITIALLY DEFERRED");
      else if (r.accept("initially", "immediate")) timing.push("INITIALLY IMMEDIATE");
      else break;
    }
    // USING INDEX TABLESPACE, NOT VALID, … : not ours to rewrite.
    if (!r.atEnd()) return undefined;
    const indexStatement =
      `CREATE UNIQUE INDEX ${name} ON ${rel.raw} USING btree ${columns}` +
      (include ? ` INCLUDE ${include}` : "") +
      (nullsNotDistinct ? " NULLS NOT DISTINCT" : "") +
      (withOptions ? ` WITH ${withOptions}` : "");
    const attach =
      `ALTER TABLE ${only ? "ONLY " : ""}${rel.raw} ADD CONSTRAINT ${name} ${kind} USING INDEX ${name}` +
      timing.map((t) => ` ${t}`).join("");
    return { indexStatement, constraintStatement: [attach, ...rest].map((s) => `${s};`).join("\n") };
  } catch (err) {
    if (err instanceof SyntaxError) return undefined;
    throw err;
  }
}
