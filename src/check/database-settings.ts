import type pg from "pg";
import { ident, literal, sqlIdent } from "../db/quote.js";
import type { Findings } from "./types.js";

interface DatabaseFacts {
  encoding: string;
  collate: string;
  ctype: string;
  /** Settings ALTER ROLE / ALTER DATABASE gave this role in this database, with the RESET that removes each. */
  settings: { setting: string; reset: string; role: string | null; db: string | null }[];
  database: string;
  role: string;
}

const FACTS_SQL = `
select pg_encoding_to_char(d.encoding) as encoding, d.datcollate::text as collate, d.datctype::text as ctype,
       d.datname as database, current_user as role,
       coalesce((select json_agg(json_build_object('setting', c, 'role', r.rolname, 'db', case when s.setdatabase = 0 then null else d.datname end))
                   from pg_db_role_setting s cross join unnest(s.setconfig) c left join pg_roles r on r.oid = s.setrole
                  where s.setdatabase in (0, d.oid) and s.setrole in (0, (select oid from pg_roles where rolname = current_user))),
                '[]') as settings
  from pg_database d where d.datname = current_database()`;

/** A row of FACTS_SQL (the settings as parsed JSON). */
interface FactsRow {
  encoding: string;
  collate: string;
  ctype: string;
  database: string;
  role: string;
  settings: { setting: string; role: string | null; db: string | null }[];
}

async function facts(client: pg.ClientBase): Promise<DatabaseFacts> {
  const r = (await client.query<FactsRow>(FACTS_SQL)).rows[0]!;
  const settings = r.settings.map((x) => {
    const name = x.setting.split("=")[0]!;
    const scope =
      x.role === null
        ? `DATABASE ${ident(x.db!)}`
        : `ROLE ${ident(x.role)}${x.db === null ? "" : ` IN DATABASE ${ident(x.db)}`}`;
    return { setting: x.setting, reset: `ALTER ${scope} RESET ${ident(name)};`, role: x.role, db: x.db };
  });
  return {
    encoding: r.encoding,
    collate: r.collate,
    ctype: r.ctype,
    settings,
    database: r.database,
    role: r.role,
  };
}

/**
 * Settings of the target role or database that would refuse pgferry's writes outright. Those
 * its sessions override themselves (statement_timeout, lock_timeout,
 * idle_in_transaction_session_timeout: see db/connect.ts) are not reported.
 */
const REFUSING = /^(default_transaction_read_only=on|transaction_timeout=(?!0$).+)$/i;

/**
 * The target must be able to store every character the source holds (issue 17, item 13: a
 * LATIN1 target passed check, then the copy failed hours in), and role or database settings
 * must not refuse pgferry's work. A different collation changes text ordering, not the data.
 */
export async function checkDatabaseSettings(
  source: pg.ClientBase,
  target: pg.ClientBase,
  findings: Findings,
): Promise<void> {
  const [s, t] = await Promise.all([facts(source), facts(target)]);
  if (s.encoding !== t.encoding && t.encoding !== "UTF8") {
    findings.blocker({
      code: "ENCODING_MISMATCH",
      side: "target",
      message: `The target database's encoding is ${t.encoding} and the source's ${s.encoding}: characters the target cannot store would fail the copy, possibly hours in.`,
      fix: `Create the target database with the source's encoding or UTF8: CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0 (on RDS too), then point --target at it.`,
    });
  }
  if (s.collate !== t.collate || s.ctype !== t.ctype) {
    findings.warning({
      code: "COLLATION_DIFFERS",
      side: "target",
      message: `The target's collation (${t.collate}, ctype ${t.ctype}) differs from the source's (${s.collate}, ctype ${s.ctype}): text sorts and compares differently there (ORDER BY results, range queries over text indexes).`,
      fix: "Nothing is lost either way; create the target database with the source's LC_COLLATE and LC_CTYPE if the application relies on the order.",
    });
  }
  reportUncarried(s, t, findings);
  const refusing = t.settings.filter((x) => REFUSING.test(x.setting));
  if (refusing.length > 0) {
    const resets = `${refusing.some((x) => /^default_transaction_read_only/i.test(x.setting)) ? "SET default_transaction_read_only = off; " : ""}${refusing.map((x) => x.reset).join(" ")}`;
    findings.blocker({
      code: "TARGET_ROLE_SETTINGS",
      side: "target",
      message: `The target role or database has ${refusing.map((x) => x.setting).join(", ")}, which would refuse or cut short pgferry's copy, index builds and the application's writes after the switch.`,
      // In a read-only session the RESETs themselves are refused: the fix first lifts it.
      fix: `On the target: ${resets} Set a transaction_timeout again after the cutover if you want one.`,
      sql: { side: "target", by: "migration role", statements: resets },
    });
  }
}

// Settings whose value is a list that SET takes unquoted (pg_dump's GUC_LIST_QUOTE ones):
// quoting the whole value would make it one element ('app, public' one schema).
const LIST_SETTINGS = new Set([
  "search_path",
  "temp_tablespaces",
  "session_preload_libraries",
  "shared_preload_libraries",
  "local_preload_libraries",
]);

/** `SET name = value` as pg_dump writes it for ALTER DATABASE / ALTER ROLE. */
export function setClause(setting: string): string {
  const eq = setting.indexOf("=");
  const name = setting.slice(0, eq);
  const value = setting.slice(eq + 1);
  return `SET ${name} = ${LIST_SETTINGS.has(name.toLowerCase()) ? value : literal(value)}`;
}

/**
 * Settings the source database (ALTER DATABASE … SET) and the source role (ALTER ROLE … SET)
 * give every session, which pg_dump --schema-only does not carry (issue 12, item F): a
 * search_path the application relies on is gone after the switch. Each is reported with the
 * statement that gives the target database or role the same; check does not apply them,
 * because the application's role on the target is the operator's choice.
 */
function reportUncarried(source: DatabaseFacts, target: DatabaseFacts, findings: Findings): void {
  const have = new Set(target.settings.map((x) => `${x.role === null ? "db" : "role"}\u0000${x.setting}`));
  const statements: string[] = [];
  for (const x of source.settings) {
    if (x.role === null) {
      if (have.has(`db\u0000${x.setting}`)) continue;
      statements.push(`ALTER DATABASE ${sqlIdent(target.database)} ${setClause(x.setting)};`);
    } else {
      if (have.has(`role\u0000${x.setting}`)) continue;
      const where = x.db === null ? "" : ` IN DATABASE ${sqlIdent(target.database)}`;
      statements.push(`ALTER ROLE ${sqlIdent(target.role)}${where} ${setClause(x.setting)};`);
    }
  }
  if (statements.length === 0) return;
  findings.warning({
    code: "SOURCE_SETTINGS_NOT_CARRIED",
    side: "target",
    message: `The source database or role gives every session settings that pg_dump does not carry and the target lacks: ${source.settings
      .map((x) => `${x.setting} (${x.role === null ? "database" : `role ${x.role}`})`)
      .join(", ")}. The application would run without them after the switch.`,
    fix: `On the target: ${statements.join(" ")} (name in each ALTER ROLE the role the application will connect as there, and pgferry's own sessions set what they need themselves).`,
    sql: { side: "target", by: "migration role", statements: statements.join(" ") },
  });
}
