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

// Managed services give their admin role a curated extension list instead of superuser.
const TARGET_ROLE_SQL = `
select (select rolsuper from pg_roles where rolname = current_user) as superuser,
       has_database_privilege(current_database(), 'CREATE') as can_create,
       (select string_agg(r.rolname, ', ') from pg_roles r
         where r.rolname in ('rds_superuser', 'azure_pg_admin', 'cloudsqlsuperuser', 'alloydbsuperuser')
           and pg_has_role(current_user, r.oid, 'MEMBER')) as provider_admin`;

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
  const installed = (await source.query(SOURCE_SQL)).rows as {
    name: string;
    version: string;
    schema: string;
  }[];
  if (installed.length === 0) return [];
  const avail = new Map<
    string,
    { default_version: string; installed_version: string | null; versions: string[]; trusted: boolean }
  >();
  for (const r of (await target.query(TARGET_SQL(targetMajor), [installed.map((e) => e.name)])).rows)
    avail.set(r.name, r);
  const role = (await target.query(TARGET_ROLE_SQL)).rows[0];
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
    reportExtension(summary, a?.versions ?? [], role.provider_admin as string | null, findings);
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

function reportExtension(
  e: ExtensionSummary,
  targetVersions: readonly string[],
  providerAdmin: string | null,
  findings: Findings,
): void {
  const create = `CREATE EXTENSION IF NOT EXISTS ${sqlIdent(e.name)} SCHEMA ${sqlIdent(e.schema)};`;
  if (!e.availableOnTarget) {
    findings.blocker({
      code: "EXTENSION_MISSING",
      side: "target",
      message: `Extension ${e.name} (${e.version}, installed on the source) is not available on the target server.`,
      fix: `Install the ${e.name} package on the target server (or choose a service that offers it); if the application does not use it, drop it on the source: DROP EXTENSION ${sqlIdent(e.name)};`,
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
