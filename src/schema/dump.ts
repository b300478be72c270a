import { type ConnInfo, qualified, serverMajor, withClient } from "../db/index.js";
import { requirePgDump } from "./pg-dump-binary.js";
import { classifyPostData } from "./post-data.js";
import { preparePreData } from "./pre-data.js";
import { exactTablePattern, runPgDump } from "./run-pg-dump.js";
import { expandExcluded, readSourceFacts } from "./source-facts.js";
import { type DumpOptions, type PostDataItem, relationKey, type SchemaDump } from "./types.js";

/** pgferry's own schema on the source (the change log); never part of the migrated schema. */
const PGFERRY_SCHEMA = "pgferry";

/** pg_dump arguments shared by both sections. */
export function pgDumpArgs(
  opts: DumpOptions,
  excluded: readonly { schema: string; name: string }[],
): string[] {
  const args = [
    "--schema-only",
    "--format=plain",
    `--lock-wait-timeout=${opts.lockWaitTimeoutMs ?? 30_000}`,
    // Tablespaces, security labels, publications and subscriptions belong to the source
    // server; the target rarely has them and a non-superuser cannot create most of them.
    "--no-tablespaces",
    "--no-security-labels",
    "--no-publications",
    "--no-subscriptions",
    "--exclude-schema",
    PGFERRY_SCHEMA,
  ];
  if (!opts.keepOwners) args.push("--no-owner");
  if (!opts.keepPrivileges) args.push("--no-privileges");
  if (opts.includeTables) {
    for (const t of opts.includeTables) args.push("--table", exactTablePattern(t));
    return args;
  }
  for (const t of excluded) args.push("--exclude-table", exactTablePattern(t));
  return args;
}

/**
 * Dumps the source's schema with pg_dump (pre-data and post-data sections) and splits it into
 * what the target gets before the copy and the post-data items built later.
 */
export async function dumpSchema(source: ConnInfo, opts: DumpOptions): Promise<SchemaDump> {
  const { major, facts } = await withClient(
    source,
    { stage: "prepare", statementTimeoutMs: 60_000 },
    async (c) => ({
      major: await serverMajor(c),
      facts: await readSourceFacts(c),
    }),
  );
  const bin = await requirePgDump(opts.pgDump, major);
  const excluded = expandExcluded(opts.excludeTables, facts);
  const args = pgDumpArgs(opts, excluded);
  const [preText, postText] = await Promise.all([
    runPgDump(bin.path, [...args, "--section=pre-data"], source, opts.signal),
    runPgDump(bin.path, [...args, "--section=post-data"], source, opts.signal),
  ]);
  const pre = preparePreData(preText, { serversWithTables: facts.serversWithTables });
  const post = classifyPostData(postText, {
    partitionRoot: facts.partitionRoot,
    matviews: new Set(facts.matviewPopulated.keys()),
    excluded: new Set(excluded.map(relationKey)),
  });
  return {
    extensions: pre.extensions,
    preData: pre.text,
    postData: [...post.items, ...matviewRefreshes(pre.matviews, facts.matviewPopulated)],
    skipped: [...pre.skipped, ...post.skipped],
    warnings: post.warnings,
    functions: facts.functions,
    pgDump: { path: bin.path, version: bin.version },
  };
}

/**
 * pg_dump --schema-only creates materialized views WITH NO DATA; each one the source has
 * populated is refreshed at cutover, in dump order (a matview over another comes after it).
 */
function matviewRefreshes(
  matviews: readonly { schema: string; name: string }[],
  populated: ReadonlyMap<string, boolean>,
): PostDataItem[] {
  return matviews
    .filter((m) => populated.get(relationKey(m)) === true)
    .map((m) => ({
      kind: "matview_refresh",
      name: m.name,
      schema: m.schema,
      table: null,
      tableSchema: null,
      relation: m,
      statement: `REFRESH MATERIALIZED VIEW ${qualified(m.schema, m.name)};`,
      stage: "cutover",
      dumpType: "MATERIALIZED VIEW DATA",
      indexStatement: null,
      constraintStatement: null,
    }));
}
