import type pg from "pg";
import type { RelationName } from "../schema/index.js";
import { plural, sqlIdent } from "./format.js";
import { type Findings, nameList } from "./types.js";

/**
 * What the source grants to roles other than each object's owner and the connected role (which
 * the target role stands for), on what start migrates:
 * schemas, relations (tables, views, sequences, matviews, foreign tables; excluded tables left
 * out) and functions. Grants to PUBLIC that PostgreSQL gives by default (EXECUTE on functions,
 * USAGE on schema public) are left out, as the target has them anyway.
 */
const GRANTS_SQL = `
with rels as (
  select c.oid, n.nspname as schema, c.relname as name, c.relkind, c.relacl, c.relowner
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f') and c.relacl is not null
     and n.nspname <> all ($1::text[]) and n.nspname not like 'pg\\_%'
     and (n.nspname, c.relname) not in (select * from unnest($2::text[], $3::text[]))
     and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass and d.objid = c.oid and d.deptype = 'e')
)
select pg_catalog.format('%s %I.%I', case r.relkind when 'S' then 'SEQUENCE' else 'TABLE' end, r.schema, r.name) as object,
       a.grantee::int8 as grantee, a.privilege_type as privilege
  from rels r, pg_catalog.aclexplode(r.relacl) a
 where a.grantee <> r.relowner and a.grantee <> (select oid from pg_catalog.pg_roles where rolname = current_user)
union all
select pg_catalog.format('SCHEMA %I', n.nspname), a.grantee::int8, a.privilege_type
  from pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
 where n.nspacl is not null and a.grantee <> n.nspowner and a.grantee <> (select oid from pg_catalog.pg_roles where rolname = current_user)
   and n.nspname <> all ($1::text[]) and n.nspname not like 'pg\\_%'
   and not (n.nspname = 'public' and a.grantee = 0)
union all
select pg_catalog.format('%s %I.%I(%s)', case p.prokind when 'p' then 'PROCEDURE' else 'FUNCTION' end,
                         n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)),
       a.grantee::int8, a.privilege_type
  from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace, pg_catalog.aclexplode(p.proacl) a
 where p.proacl is not null and a.grantee <> p.proowner and a.grantee <> 0
   and a.grantee <> (select oid from pg_catalog.pg_roles where rolname = current_user)
   and n.nspname <> all ($1::text[]) and n.nspname not like 'pg\\_%'
   and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and d.objid = p.oid and d.deptype = 'e')`;

/** Roles that own what start migrates, other than the connected role. */
const OWNERS_SQL = `
select distinct pg_catalog.pg_get_userbyid(o.owner) as role from (
  select c.relowner as owner, c.relnamespace as ns, 'pg_catalog.pg_class'::pg_catalog.regclass as cls, c.oid
    from pg_catalog.pg_class c where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f', 'c')
  union all select p.proowner, p.pronamespace, 'pg_catalog.pg_proc'::pg_catalog.regclass, p.oid from pg_catalog.pg_proc p
  union all select t.typowner, t.typnamespace, 'pg_catalog.pg_type'::pg_catalog.regclass, t.oid
    from pg_catalog.pg_type t where t.typtype in ('d', 'e', 'r', 'm')
  union all select n.nspowner, n.oid, 'pg_catalog.pg_namespace'::pg_catalog.regclass, n.oid from pg_catalog.pg_namespace n
   where n.nspname <> 'public' and n.oid not in (select extnamespace from pg_catalog.pg_extension)
) o join pg_catalog.pg_namespace n on n.oid = o.ns
where n.nspname <> all ($1::text[]) and n.nspname not like 'pg\\_%'
  and o.owner <> (select oid from pg_catalog.pg_roles where rolname = current_user)
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = o.cls and d.objid = o.oid and d.deptype = 'e')
order by 1`;

const SKIP = ["pg_catalog", "information_schema", "pgferry"];

/**
 * start creates the schema with pg_dump --no-owner --no-privileges (the source's roles rarely
 * exist on the target, and a non-superuser could not give objects to them): on the target the
 * target role owns everything and the source's GRANTs are not there. Said here, with the
 * statements that restore the grants (roles missing on the target created first), so an
 * application that connects as another role does not find itself locked out after the switch.
 * Roles named in policies are carried (the rehearsal names any the target lacks).
 */
export async function checkRoles(
  source: pg.ClientBase,
  target: pg.ClientBase,
  excluded: readonly RelationName[],
  findings: Findings,
): Promise<void> {
  const grants = (
    await source.query<{ object: string; grantee: string; privilege: string }>(GRANTS_SQL, [
      SKIP,
      excluded.map((r) => r.schema),
      excluded.map((r) => r.name),
    ])
  ).rows;
  const owners = (await source.query<{ role: string }>(OWNERS_SQL, [SKIP])).rows.map((r) => r.role);
  const grantees = new Map<string, string>();
  const granteeOids = [...new Set(grants.map((g) => g.grantee))].filter((g) => g !== "0");
  if (granteeOids.length > 0) {
    const { rows } = await source.query<{ oid: string; name: string }>(
      "select oid::int8 as oid, rolname as name from pg_catalog.pg_roles where oid = any ($1::oid[])",
      [granteeOids],
    );
    for (const r of rows) grantees.set(String(r.oid), r.name);
  }
  const roleOf = (g: string) => (g === "0" ? "PUBLIC" : (grantees.get(String(g)) ?? `#${g}`));
  const named = [...new Set([...grants.map((g) => roleOf(g.grantee)), ...owners])].filter(
    (r) => r !== "PUBLIC",
  );
  const present = new Set(
    (
      await target.query<{ name: string }>(
        "select rolname as name from pg_catalog.pg_roles where rolname = any ($1)",
        [named],
      )
    ).rows.map((r) => r.name),
  );
  const missing = (roles: string[]) => roles.filter((r) => !present.has(r));
  if (grants.length > 0) reportGrants(grants, roleOf, missing, findings);
  if (owners.length > 0) {
    const gone = missing(owners);
    findings.note({
      code: "OWNERS_NOT_CARRIED",
      side: "target",
      message: `On the source, objects are owned by ${nameList(owners)}; start creates every object on the target owned by the target role (pg_dump --no-owner)${gone.length > 0 ? `, and ${nameList(gone)} ${gone.length === 1 ? "does" : "do"} not exist there` : ""}.`,
      fix: "Nothing to do for the migration. To give objects to those roles on the target, create the roles and run ALTER … OWNER TO as an administrator after the switch.",
    });
  }
}

function reportGrants(
  grants: readonly { object: string; grantee: string; privilege: string }[],
  roleOf: (g: string) => string,
  missing: (roles: string[]) => string[],
  findings: Findings,
): void {
  const byTarget = new Map<string, string[]>();
  for (const g of grants) {
    const key = `${g.object}\n${roleOf(g.grantee)}`;
    byTarget.set(key, [...(byTarget.get(key) ?? []), g.privilege]);
  }
  const statements = [...byTarget].map(([key, privileges]) => {
    const [object, role] = key.split("\n") as [string, string];
    return `GRANT ${[...new Set(privileges)].sort().join(", ")} ON ${object} TO ${role === "PUBLIC" ? "PUBLIC" : sqlIdent(role)};`;
  });
  const roles = [...new Set(grants.map((g) => roleOf(g.grantee)))].filter((r) => r !== "PUBLIC").sort();
  const gone = missing(roles);
  const create = gone.map((r) => `CREATE ROLE ${sqlIdent(r)} NOLOGIN;`);
  findings.warning({
    code: "PRIVILEGES_NOT_CARRIED",
    side: "target",
    message: `The source grants ${plural(statements.length, "privilege set")} on migrated objects to ${nameList(roles.length > 0 ? roles : ["PUBLIC"])}; start does not carry GRANTs (pg_dump --no-privileges), so on the target only the target role can use them${gone.length > 0 ? `, and ${nameList(gone)} ${gone.length === 1 ? "does" : "do"} not exist there` : ""}. An application that connects as one of those roles would be refused after the switch.`,
    fix: `After \`pgferry start\` has created the schema, before the cutover, run on the target (roles as a role with CREATEROLE): ${[...create, ...statements].join(" ")}`,
  });
}
