import type pg from "pg";
import type { SourceTable } from "../catalog/index.js";
import type { RelationName } from "../schema/index.js";
import { plural, sqlIdent, sqlName } from "./format.js";
import { type Findings, nameList, tableName } from "./types.js";

/**
 * Objects the dump keeps that depend on an excluded relation or its row type (PostgreSQL
 * records these: views, SQL-standard function bodies, functions taking or returning the row
 * type, columns of that type, policies, …), the excluded relations' own parts left out.
 */
const DEPENDENTS_SQL = `
with recursive ex as (
  select c.oid, c.reltype from unnest($1::text[], $2::text[]) as u(schema, name)
    join pg_catalog.pg_namespace n on n.nspname = u.schema
    join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = u.name
),
-- What is used, directly or through views and functions that use it (a view over a view over
-- the table is refused too, and must be dropped first): depth 0 is the excluded relation.
refs (cls, oid, rel, depth) as (
  select 'pg_catalog.pg_class'::pg_catalog.regclass, oid, oid, 0 from ex
  union all select 'pg_catalog.pg_type'::pg_catalog.regclass, reltype, oid, 0 from ex where reltype <> 0
  union all
  select x.cls, x.oid, r.rel, r.depth + 1
    from refs r
    join pg_catalog.pg_depend d on d.refclassid = r.cls and d.refobjid = r.oid and d.deptype = 'n'
    cross join lateral (
      select 'pg_catalog.pg_class'::pg_catalog.regclass as cls, w.ev_class as oid
        from pg_catalog.pg_rewrite w where d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass and w.oid = d.objid
      union all
      select 'pg_catalog.pg_type'::pg_catalog.regclass, c.reltype
        from pg_catalog.pg_rewrite w join pg_catalog.pg_class c on c.oid = w.ev_class
       where d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass and w.oid = d.objid and c.reltype <> 0
      union all
      select 'pg_catalog.pg_proc'::pg_catalog.regclass, d.objid where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
    ) x
   where r.depth < 8 and x.oid not in (select oid from ex) and x.oid <> r.oid
),
deps as (
  select d.classid, d.objid, d.objsubid, r.rel, max(r.depth) as depth,
         case d.classid
           when 'pg_catalog.pg_rewrite'::pg_catalog.regclass then (select ev_class from pg_catalog.pg_rewrite where oid = d.objid)
           when 'pg_catalog.pg_class'::pg_catalog.regclass then d.objid
           when 'pg_catalog.pg_constraint'::pg_catalog.regclass then (select conrelid from pg_catalog.pg_constraint where oid = d.objid)
           when 'pg_catalog.pg_policy'::pg_catalog.regclass then (select polrelid from pg_catalog.pg_policy where oid = d.objid)
           when 'pg_catalog.pg_trigger'::pg_catalog.regclass then (select tgrelid from pg_catalog.pg_trigger where oid = d.objid)
           when 'pg_catalog.pg_attrdef'::pg_catalog.regclass then (select adrelid from pg_catalog.pg_attrdef where oid = d.objid)
         end as owner_rel
  from pg_catalog.pg_depend d join refs r on d.refclassid = r.cls and d.refobjid = r.oid
  where d.deptype = 'n'
    and not exists (select 1 from pg_catalog.pg_depend e where e.classid = d.classid and e.objid = d.objid and e.deptype = 'e')
    -- Before PostgreSQL 16 a view's rule also depends, normally, on its own view.
    and not (d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass
             and d.refobjid = (select ev_class from pg_catalog.pg_rewrite where oid = d.objid))
  group by d.classid, d.objid, d.objsubid, r.rel
)
select case when d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass then
         pg_catalog.format('%s %I.%I(%s)', case p.prokind when 'p' then 'procedure' else 'function' end,
                           pn.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))
       when d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass and oc.relkind in ('v', 'm') then
         pg_catalog.format('%s %I.%I', case oc.relkind when 'm' then 'materialized view' else 'view' end, on_.nspname, oc.relname)
       else pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) end as what,
       xn.nspname as ex_schema, xc.relname as ex_name,
       case when d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass then
         pg_catalog.format('DROP %s %I.%I(%s);', case p.prokind when 'p' then 'PROCEDURE' else 'FUNCTION' end,
                           pn.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid))
       when d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass and oc.relkind in ('v', 'm') then
         pg_catalog.format('DROP %s %I.%I;', case oc.relkind when 'm' then 'MATERIALIZED VIEW' else 'VIEW' end, on_.nspname, oc.relname)
       end as drop_sql,
       case when d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass then
         pg_catalog.format('%s %s.%s(', case p.prokind when 'p' then 'PROCEDURE' else 'FUNCTION' end, pn.nspname, p.proname)
       when d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass and oc.relkind in ('v', 'm') then
         pg_catalog.format('%s %s.%s', case oc.relkind when 'm' then 'MATERIALIZED VIEW' else 'VIEW' end, on_.nspname, oc.relname)
       end as dump_what
from deps d
join pg_catalog.pg_class xc on xc.oid = d.rel join pg_catalog.pg_namespace xn on xn.oid = xc.relnamespace
left join pg_catalog.pg_proc p on d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and p.oid = d.objid
left join pg_catalog.pg_namespace pn on pn.oid = p.pronamespace
left join pg_catalog.pg_class oc on oc.oid = d.owner_rel
left join pg_catalog.pg_namespace on_ on on_.oid = oc.relnamespace
where (d.owner_rel is null or d.owner_rel not in (select oid from ex))
  and coalesce(on_.nspname, pn.nspname, '') <> 'pgferry'
  -- foreign keys are reported on their own (they are left out, not refused)
  and not (d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass
           and exists (select 1 from pg_catalog.pg_constraint k where k.oid = d.objid and k.contype = 'f'))
-- What depends on another dependent first: its DROP must run before that one's.
order by max(d.depth) over (partition by d.classid, d.objid, d.objsubid) desc, 1, 2, 3`;

/** Foreign keys between an excluded relation and a migrated one, either way. */
const FOREIGN_KEYS_SQL = `
with ex as (
  select c.oid from unnest($1::text[], $2::text[]) as u(schema, name)
    join pg_catalog.pg_namespace n on n.nspname = u.schema
    join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = u.name
)
select k.conname as name, fn.nspname as from_schema, f.relname as from_name,
       tn.nspname as to_schema, t.relname as to_name, k.conrelid in (select oid from ex) as from_excluded
from pg_catalog.pg_constraint k
join pg_catalog.pg_class f on f.oid = k.conrelid join pg_catalog.pg_namespace fn on fn.oid = f.relnamespace
join pg_catalog.pg_class t on t.oid = k.confrelid join pg_catalog.pg_namespace tn on tn.oid = t.relnamespace
where k.contype = 'f' and k.conparentid = 0
  and ((k.conrelid in (select oid from ex)) <> (k.confrelid in (select oid from ex)))
  and fn.nspname <> 'pgferry' and tn.nspname <> 'pgferry'
order by 2, 3, 1`;

/** The user's functions whose body is text PostgreSQL records no dependencies for, with the triggers that run them. */
const BODIES_SQL = `
select p.oid::int8 as oid, pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)) as function,
       p.prosrc as body,
       coalesce((select json_agg(json_build_object('trigger', t.tgname, 'schema', tn.nspname, 'table', tc.relname, 'relid', tc.oid::int8))
                   from pg_catalog.pg_trigger t join pg_catalog.pg_class tc on tc.oid = t.tgrelid
                   join pg_catalog.pg_namespace tn on tn.oid = tc.relnamespace
                  where t.tgfoid = p.oid and not t.tgisinternal), '[]') as triggers
from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
join pg_catalog.pg_language l on l.oid = p.prolang
where l.lanname not in ('c', 'internal')
  and n.nspname <> all ($1::text[]) and n.nspname not like 'pg\\_%'
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and d.objid = p.oid and d.deptype = 'e')`;

export interface ExclusionResult {
  /** Rehearsal refusals these findings already explain (their pg_dump "TYPE schema.name" prefixes). */
  explained: string[];
}

/**
 * With --tables/--exclude, what stays in the migration but uses what is left out (issue 12):
 * objects PostgreSQL records as depending on an excluded table (start fails creating them),
 * foreign keys to or from one (not created), and function bodies that name one (they fail
 * when run on the target; a trigger on a migrated table that runs such a function fails the
 * application's writes after the switch).
 */
export async function checkExclusions(
  source: pg.ClientBase,
  migrated: readonly SourceTable[],
  excluded: readonly RelationName[],
  findings: Findings,
): Promise<ExclusionResult> {
  if (excluded.length === 0) return { explained: [] };
  const args = [excluded.map((r) => r.schema), excluded.map((r) => r.name)];
  const explained = await reportDependents(source, args, findings);
  await reportForeignKeys(source, args, findings);
  await reportBodies(source, migrated, excluded, findings);
  return { explained };
}

async function reportDependents(
  source: pg.ClientBase,
  args: string[][],
  findings: Findings,
): Promise<string[]> {
  const { rows } = await source.query<{
    what: string;
    ex_schema: string;
    ex_name: string;
    drop_sql: string | null;
    dump_what: string | null;
  }>(DEPENDENTS_SQL, args);
  const byObject = new Map<string, { tables: RelationName[]; drop: string | null }>();
  for (const r of rows) {
    const o = byObject.get(r.what) ?? { tables: [], drop: r.drop_sql };
    o.tables.push({ schema: r.ex_schema, name: r.ex_name });
    byObject.set(r.what, o);
  }
  for (const [what, o] of byObject) {
    const names = o.tables.map(tableName).join(", ");
    findings.blocker({
      code: "EXCLUDED_TABLE_DEPENDENTS",
      side: "source",
      message: `${what} uses ${names}, which --tables/--exclude leave out: start would fail creating it on the target, where ${o.tables.length === 1 ? "that table does" : "those tables do"} not exist.`,
      ...(o.drop ? { sql: { side: "source" as const, by: "owner" as const, statements: o.drop } } : {}),
      fix: `Migrate ${names} too (drop ${o.tables.length === 1 ? "it" : "them"} from --exclude / add to --tables), or change ${what} on the source so that it no longer uses ${o.tables.length === 1 ? "it" : "them"}${o.drop ? ` (or drop it, if the application does not need it: ${o.drop})` : ""}.`,
    });
  }
  return rows.flatMap((r) => (r.dump_what ? [r.dump_what] : []));
}

async function reportForeignKeys(source: pg.ClientBase, args: string[][], findings: Findings): Promise<void> {
  const { rows } = await source.query<{
    name: string;
    from_schema: string;
    from_name: string;
    to_schema: string;
    to_name: string;
    from_excluded: boolean;
  }>(FOREIGN_KEYS_SQL, args);
  if (rows.length === 0) return;
  const line = (r: (typeof rows)[number]) =>
    `${r.name} on ${r.from_schema}.${r.from_name} → ${r.to_schema}.${r.to_name}${r.from_excluded ? " (from a table left out)" : ""}`;
  const toExcluded = rows.filter((r) => !r.from_excluded);
  findings.warning({
    code: "EXCLUDED_TABLE_FOREIGN_KEYS",
    side: "source",
    message: `${plural(rows.length, "foreign key")} between migrated tables and tables --tables/--exclude leave out: ${nameList(rows.map(line))}. None is created on the target${toExcluded.length > 0 ? ": it accepts rows whose referenced row is not there" : ""}.`,
    fix: `Nothing to do if the tables left out are meant to stay behind; to keep the constraints, migrate them too (drop ${rows.length === 1 ? "it" : "them"} from --exclude).`,
  });
}

async function reportBodies(
  source: pg.ClientBase,
  migrated: readonly SourceTable[],
  excluded: readonly RelationName[],
  findings: Findings,
): Promise<void> {
  const { rows } = await source.query<{
    function: string;
    body: string;
    triggers: { trigger: string; schema: string; table: string; relid: number }[];
  }>(BODIES_SQL, [["pg_catalog", "information_schema", "pgferry"]]);
  const migratedRels = new Set(migrated.flatMap((t) => [t.oid, ...t.leaves.map((l) => l.oid)]).map(Number));
  // A name a migrated table shares (in another schema) counts only when written with its schema.
  const migratedNames = new Set(migrated.map((t) => t.name));
  const loose: string[] = [];
  for (const r of rows) {
    const named = excluded.filter((t) => namesRelation(r.body, t, migratedNames.has(t.name)));
    if (named.length === 0) continue;
    const names = named.map(tableName).join(", ");
    const triggers = r.triggers.filter((t) => migratedRels.has(Number(t.relid)));
    if (triggers.length === 0) {
      loose.push(`${r.function} (${names})`);
      continue;
    }
    for (const t of triggers) {
      const drop = `DROP TRIGGER ${sqlIdent(t.trigger)} ON ${sqlName(t.schema, t.table)};`;
      findings.blocker({
        code: "EXCLUDED_TABLE_IN_TRIGGER",
        side: "source",
        table: `${t.schema}.${t.table}`,
        message: `Trigger ${t.trigger} on ${t.schema}.${t.table} runs ${r.function}, whose body names ${names}, which --tables/--exclude leave out: after the switch the application's writes to ${t.schema}.${t.table} fail on the target where it runs into ${names}.`,
        fix: `Migrate ${names} too (drop from --exclude / add to --tables), or change ${r.function} on the source so that it no longer uses ${names}, or drop the trigger on the source if the application does not need it: ${drop}`,
        sql: { side: "source", by: "owner", statements: drop },
      });
    }
  }
  if (loose.length > 0) {
    findings.warning({
      code: "EXCLUDED_TABLE_IN_FUNCTIONS",
      side: "source",
      message: `${plural(loose.length, "function")} whose body names a table --tables/--exclude leave out (a text match: PostgreSQL records no dependency for a body): ${nameList(loose)}. Run on the target, they fail where they reach that table.`,
      fix: "Nothing to do if the application no longer calls them after the switch; otherwise migrate those tables too (drop them from --exclude / add them to --tables), or change the functions on the source.",
    });
  }
}

/**
 * Whether a function body names the relation: its name as an unquoted identifier (any case,
 * when the name is a plain lower-case one) or as a quoted identifier; with `qualified`, only
 * after its schema. A text match, since PL/pgSQL and dynamic SQL record no dependency; string
 * literals count (dynamic SQL), comments do not.
 */
export function namesRelation(body: string, r: RelationName, qualified = false): boolean {
  const forms = (name: string) => {
    const quoted = escapeRegex(`"${name.replace(/"/g, '""')}"`);
    return /^[a-z_][a-z0-9_$]*$/.test(name) ? `(?:${quoted}|${escapeRegex(name)})` : quoted;
  };
  const name = qualified ? `${forms(r.schema)}\\s*\\.\\s*${forms(r.name)}` : forms(r.name);
  // Comments left out: a table named in a comment is no use of it.
  const code = body.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/--[^\n]*/g, " ");
  return new RegExp(`(^|[^A-Za-z0-9_$"])${name}($|[^A-Za-z0-9_$"])`, "i").test(code);
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
