import type pg from "pg";
import { sqlIdent } from "./format.js";
import type { ExtensionSummary, Findings } from "./types.js";

const SOURCE_SQL = `
select e.extname as name, e.extversion as version, n.nspname as schema
from pg_extension e join pg_namespace n on n.oid = e.extnamespace
where e.extname <> 'plpgsql'
order by e.extname`;

// The trusted column (PG13+) lets a non-superuser with CREATE on the database create the extension.
const TARGET_SQL = (major: number) => `
select a.name, a.default_version, a.installed_version,
       (select array_agg(v.version) from pg_available_extension_versions v where v.name = a.name) as versions,
       ${major >= 13 ? "(select bool_or(v.trusted) from pg_available_extension_versions v where v.name = a.name)" : "false"} as trusted
from pg_available_extensions a
where a.name = any ($1::text[])`;

/** What each extension of the target needs (its default version's `requires`), and whether it is installed. */
const TARGET_REQUIRES_SQL = `
select a.name, a.installed_version is not null as installed, coalesce(v.requires::text[], '{}') as requires
from pg_available_extensions a
left join pg_available_extension_versions v on v.name = a.name and v.version = a.default_version`;

// Managed services give their admin role a curated extension list instead of superuser.
const TARGET_ROLE_SQL = `
select (select rolsuper from pg_roles where rolname = current_user) as superuser, current_user as role,
       (select coalesce(array_agg(nspname::text), '{}') from pg_namespace) as schemas,
       has_database_privilege(current_database(), 'CREATE') as can_create,
       (select string_agg(r.rolname, ', ') from pg_roles r
         where r.rolname in ('rds_superuser', 'azure_pg_admin', 'cloudsqlsuperuser', 'alloydbsuperuser')
           and pg_has_role(current_user, r.oid, 'MEMBER')) as provider_admin`;

/** A row of TARGET_SQL (versions: null when none is listed; trusted: null then too). */
interface TargetExtensionRow {
  name: string;
  default_version: string;
  installed_version: string | null;
  versions: string[] | null;
  trusted: boolean | null;
}

/** The row of TARGET_ROLE_SQL. */
interface TargetRoleRow {
  superuser: boolean;
  role: string;
  schemas: string[];
  can_create: boolean;
  provider_admin: string | null;
}

/**
 * Every extension installed on the source must be available on the target, and creatable by
 * the target role (or created there beforehand by an administrator).
 */
export async function checkExtensions(
  source: pg.ClientBase,
  target: pg.ClientBase,
  targetMajor: number,
  findings: Findings,
): Promise<ExtensionSummary[]> {
  const installed = (await source.query<{ name: string; version: string; schema: string }>(SOURCE_SQL)).rows;
  if (installed.length === 0) return [];
  const avail = new Map<string, TargetExtensionRow>();
  const targetRows = await target.query<TargetExtensionRow>(TARGET_SQL(targetMajor), [
    installed.map((e) => e.name),
  ]);
  for (const r of targetRows.rows) avail.set(r.name, r);
  const role = (await target.query<TargetRoleRow>(TARGET_ROLE_SQL)).rows[0]!;
  const requires = new Map<string, { installed: boolean; requires: string[] }>();
  const requiresRows = await target.query<{ name: string; installed: boolean; requires: string[] }>(
    TARGET_REQUIRES_SQL,
  );
  for (const r of requiresRows.rows) requires.set(r.name, r);
  const summaries = installed.map((e) => {
    const a = avail.get(e.name);
    const creatable =
      a !== undefined && (a.installed_version !== null || role.superuser || (a.trusted && role.can_create));
    const summary: ExtensionSummary = {
      name: e.name,
      version: e.version,
      schema: e.schema,
      availableOnTarget: a !== undefined,
      targetDefaultVersion: a?.default_version ?? null,
      installedOnTarget: Boolean(a?.installed_version),
      creatableOnTarget: Boolean(creatable),
    };
    const create = createStatements(e, installed, requires, role);
    reportExtension(summary, a?.versions ?? [], role.provider_admin, create, findings);
    return summary;
  });
  const herokuExt = installed.filter((e) => e.schema === "heroku_ext").map((e) => e.name);
  if (herokuExt.length > 0) {
    findings.note({
      code: "HEROKU_EXT_SCHEMA",
      side: "source",
      message: `Extensions installed in Heroku's heroku_ext schema: ${herokuExt.join(", ")}. The target gets a heroku_ext schema too, so references to its objects keep working.`,
      fix: "Nothing to do; after the migration you may move them with ALTER EXTENSION … SET SCHEMA where relocatable.",
    });
  }
  return summaries;
}

/**
 * The statements that create the extension on the target as printed (issue 12: the fix failed
 * as printed): its schema first when the target lacks it (owned by the target role, which
 * creates the rest of the schema in it), then each extension it needs that the target lacks,
 * in the schema the source has it in (else beside it), then the extension itself, CASCADE.
 */
function createStatements(
  e: { name: string; schema: string },
  sourceExtensions: readonly { name: string; schema: string }[],
  requires: ReadonlyMap<string, { installed: boolean; requires: string[] }>,
  role: { role: string; schemas: string[] },
): string {
  const order: string[] = [];
  const visit = (name: string, seen: Set<string>) => {
    for (const dep of requires.get(name)?.requires ?? []) {
      if (seen.has(dep) || requires.get(dep)?.installed) continue;
      seen.add(dep);
      visit(dep, seen);
      if (!order.includes(dep)) order.push(dep);
    }
  };
  visit(e.name, new Set([e.name]));
  const schemaOf = (name: string) => sourceExtensions.find((x) => x.name === name)?.schema ?? e.schema;
  const schemas = [...new Set([...order.map(schemaOf), e.schema])].filter(
    (s) => s !== "pg_catalog" && !role.schemas.includes(s),
  );
  return [
    ...schemas.map((s) => `CREATE SCHEMA IF NOT EXISTS ${sqlIdent(s)} AUTHORIZATION ${sqlIdent(role.role)};`),
    ...order.map((d) => `CREATE EXTENSION IF NOT EXISTS ${sqlIdent(d)} SCHEMA ${sqlIdent(schemaOf(d))};`),
    `CREATE EXTENSION IF NOT EXISTS ${sqlIdent(e.name)} SCHEMA ${sqlIdent(e.schema)} CASCADE;`,
  ].join(" ");
}

function reportExtension(
  e: ExtensionSummary,
  targetVersions: readonly string[],
  providerAdmin: string | null,
  create: string,
  findings: Findings,
): void {
  if (!e.availableOnTarget) {
    findings.blocker({
      code: "EXTENSION_MISSING",
      side: "target",
      message: `Extension ${e.name} (${e.version}, installed on the source) is not available on the target server.`,
      fix: `Install the ${e.name} package on the target server (or choose a service that offers it); if the application does not use it, drop it on the source, as its owner: DROP EXTENSION ${sqlIdent(e.name)};`,
    });
    return;
  }
  if (!e.creatableOnTarget) {
    const provider = providerAdmin !== null;
    findings.add(provider ? "warning" : "blocker", {
      code: "EXTENSION_NOT_CREATABLE",
      side: "target",
      message: provider
        ? `Extension ${e.name} is neither trusted nor installed on the target; as a member of ${providerAdmin} the target role can create it only if the service allows it.`
        : `Extension ${e.name} is available on the target, but the target role may not create it (it is not trusted and the role is not superuser).`,
      fix: `Have an administrator run on the target before \`pgferry start\`: ${create}`,
      sql: { side: "target", by: "administrator", statements: create },
    });
  }
  if (!targetVersions.includes(e.version)) {
    findings.note({
      code: "EXTENSION_VERSION_DIFFERS",
      side: "target",
      message: `Extension ${e.name} is ${e.version} on the source; the target offers ${e.targetDefaultVersion} (and ${targetVersions.length} version(s) in all), so the target gets its default version.`,
      fix: `Check ${e.name}'s release notes between these versions.`,
    });
  }
}
