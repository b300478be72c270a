import type pg from "pg";
import { ident } from "../db/quote.js";
import type { Findings } from "./types.js";

interface DatabaseFacts {
  encoding: string;
  collate: string;
  ctype: string;
  /** Settings ALTER ROLE / ALTER DATABASE gave this role in this database, with the RESET that removes each. */
  settings: { setting: string; reset: string }[];
}

const FACTS_SQL = `
select pg_encoding_to_char(d.encoding) as encoding, d.datcollate::text as collate, d.datctype::text as ctype,
       coalesce((select json_agg(json_build_object('setting', c, 'role', r.rolname, 'db', case when s.setdatabase = 0 then null else d.datname end))
                   from pg_db_role_setting s cross join unnest(s.setconfig) c left join pg_roles r on r.oid = s.setrole
                  where s.setdatabase in (0, d.oid) and s.setrole in (0, (select oid from pg_roles where rolname = current_user))),
                '[]') as settings
  from pg_database d where d.datname = current_database()`;

async function facts(client: pg.ClientBase): Promise<DatabaseFacts> {
  const r = (await client.query(FACTS_SQL)).rows[0]!;
  const settings = (r.settings as { setting: string; role: string | null; db: string | null }[]).map((x) => {
    const name = x.setting.split("=")[0]!;
    const scope =
      x.role === null
        ? `DATABASE ${ident(x.db!)}`
        : `ROLE ${ident(x.role)}${x.db === null ? "" : ` IN DATABASE ${ident(x.db)}`}`;
    return { setting: x.setting, reset: `ALTER ${scope} RESET ${ident(name)};` };
  });
  return { encoding: r.encoding, collate: r.collate, ctype: r.ctype, settings };
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
  const refusing = t.settings.filter((x) => REFUSING.test(x.setting));
  if (refusing.length > 0) {
    findings.blocker({
      code: "TARGET_ROLE_SETTINGS",
      side: "target",
      message: `The target role or database has ${refusing.map((x) => x.setting).join(", ")}, which would refuse or cut short pgferry's copy, index builds and the application's writes after the switch.`,
      // In a read-only session the RESETs themselves are refused: the fix first lifts it.
      fix: `On the target: ${refusing.some((x) => /^default_transaction_read_only/i.test(x.setting)) ? "SET default_transaction_read_only = off; " : ""}${refusing.map((x) => x.reset).join(" ")} Set a transaction_timeout again after the cutover if you want one.`,
    });
  }
}
