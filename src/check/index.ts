import { listForeignTables, listTables, tableMatcher } from "../catalog/index.js";
import { connectionSlots, defaultJobs, sourceConnectionBudget } from "../db/index.js";
import { noEvents } from "../progress/events.js";
import { readSourceIdentity, sameSource } from "../state/index.js";
import { checkActivity } from "./activity.js";
import { connectionBudget, reportBudget } from "./budget.js";
import {
  checkEncryption,
  closeSides,
  describeServer,
  openSides,
  type ServerFacts,
  type Sides,
} from "./connections.js";
import { checkDatabaseSettings } from "./database-settings.js";
import { checkEventTriggers } from "./event-triggers.js";
import { checkExclusions } from "./exclusions.js";
import { checkExtensions } from "./extensions.js";
import { plural } from "./format.js";
import { checkKeys } from "./keys.js";
import { checkObjects } from "./objects.js";
import { checkSourcePrivileges, checkTargetPrivileges } from "./privileges.js";
import { findMissing, type MissingValues, readRegValues, reportMissingValues } from "./reg-values.js";
import { checkRowSecurity } from "./rls.js";
import { checkRoles } from "./roles.js";
import { rehearseSchema } from "./schema-rehearsal.js";
import { summarizeTables, totals } from "./sizes.js";
import { checkChangeLog, checkSourceLeftovers, checkTarget } from "./target.js";
import {
  type CheckOptions,
  type CheckReport,
  DEFAULT_LONG_TRANSACTION_SECONDS,
  Findings,
  nameList,
} from "./types.js";
import { checkPgDump, checkVersions, MIN_SOURCE_MAJOR } from "./versions.js";

export { formatBytes } from "./format.js";
export type {
  CheckOptions,
  CheckReport,
  ConnectionBudget,
  ExtensionSummary,
  Finding,
  FixSql,
  ServerSummary,
  Severity,
  TableSummary,
} from "./types.js";

/**
 * The preflight: reads both sides, changes nothing, and returns every blocker, warning and note
 * with its fix. Problems found are findings; a check that cannot run (a side unreachable, a
 * bad pattern) throws a PgferryError naming the side.
 */
export async function runCheck(opts: CheckOptions): Promise<CheckReport> {
  const emit = opts.emit ?? noEvents;
  const match = tableMatcher({ include: opts.include, exclude: opts.exclude });
  emit({ type: "stage:start", stage: "check" });
  const started = Date.now();
  const sides = await openSides(opts.source, opts.target);
  try {
    const report = await inspect(sides, opts, match);
    emit({ type: "stage:done", stage: "check", seconds: (Date.now() - started) / 1000 });
    return report;
  } finally {
    await closeSides(sides);
  }
}

/** The source and the target must be two databases (issue 17, item 14: refused only by accident before). */
async function checkDistinctDatabases(sides: Sides, opts: CheckOptions, findings: Findings): Promise<void> {
  const [s, t] = await Promise.all([
    readSourceIdentity(sides.source, opts.source),
    readSourceIdentity(sides.target, opts.target),
  ]);
  if (!sameSource(s, t)) return;
  findings.blocker({
    code: "SAME_DATABASE",
    side: "target",
    message: `The source and the target are the same database (${opts.target.display}).`,
    fix: "Point --target (or PGFERRY_TARGET_URL) at the new, empty database.",
  });
}

async function inspect(
  sides: Sides,
  opts: CheckOptions,
  match: (schema: string, name: string) => boolean,
): Promise<CheckReport> {
  const findings = new Findings();
  // The same default as `start`, from the same budget, so check judges what start will open.
  const sourceSlots = await connectionSlots(sides.source);
  const jobs = opts.jobs ?? defaultJobs(sourceSlots.available);
  const needed = sourceConnectionBudget(jobs);
  const source = await describeServer(sides.source, opts.source);
  const target = await describeServer(sides.target, opts.target);
  checkEncryption(opts.source, source, findings);
  checkEncryption(opts.target, target, findings);
  checkVersions(source, target, findings);
  await checkDistinctDatabases(sides, opts, findings);
  await checkDatabaseSettings(sides.source, sides.target, findings);
  const pgDump = await checkPgDump(opts.pgDump, source.major, target.major, findings);
  const report = emptyReport(source, target, pgDump);
  // Older servers lack the catalogs the rest reads; the version blocker says what to do.
  if (source.major < MIN_SOURCE_MAJOR) return finish(report, findings);

  const all = await listTables(sides.source, source.major);
  const tables = all.filter((t) => match(t.schema, t.name));
  const excluded = all.filter((t) => !match(t.schema, t.name)).map((t) => `${t.schema}.${t.name}`);
  reportSelection(tables.length, excluded, findings);

  await checkSourcePrivileges(sides.source, tables, findings);
  await checkTargetPrivileges(sides.target, [...new Set(tables.map((t) => t.schema))], findings);
  checkKeys(tables, findings);
  const { largeObjects } = await checkObjects(sides.source, tables, match, findings);
  await checkEventTriggers(sides.source, tables, findings);
  // What start leaves out of pg_dump: unmatched tables, their partitions, unmatched foreign tables.
  const foreign = (await listForeignTables(sides.source)).filter((f) => !match(f.schema, f.name));
  const leftOut = [
    ...all
      .filter((t) => !match(t.schema, t.name))
      .flatMap((t) => [
        { schema: t.schema, name: t.name },
        ...t.leaves.map((l) => ({ schema: l.schema, name: l.name })),
      ]),
    ...foreign,
  ];
  const { explained } = await checkExclusions(sides.source, tables, leftOut, findings);
  await checkRoles(sides.source, sides.target, leftOut, findings);
  report.extensions = await checkExtensions(sides.source, sides.target, target.major, findings);
  checkRowSecurity(tables, source, findings);
  await checkActivity(
    sides.source,
    tables,
    opts.longTransactionSeconds ?? DEFAULT_LONG_TRANSACTION_SECONDS,
    findings,
  );
  const targetState = await checkTarget(
    sides.target,
    sides.source,
    opts.source,
    opts.requireEmptyTarget !== false,
    findings,
  );
  await checkSourceLeftovers(sides.source, targetState, findings);
  const sameDatabase = findings.blockers.some((f) => f.code === "SAME_DATABASE");
  const regValues = await readRegValues(sides.source, tables);
  let missingValues: MissingValues[] | undefined;
  if (opts.rehearseSchema === false) {
    // start's own preflight: start applies the schema itself right after, in one transaction.
  } else if (targetState.userTables.length > 0 || targetState.migration || sameDatabase) {
    findings.note({
      code: "SCHEMA_NOT_REHEARSED",
      side: "target",
      message: "The target is not empty, so check did not try the source's schema on it.",
      fix: "Nothing to do when resuming a migration; otherwise empty the target and run check again.",
    });
  } else if (pgDump && pgDump.major >= source.major) {
    await rehearseSchema(
      {
        source: opts.source,
        target: opts.target,
        pgDump,
        excluded: leftOut,
        explained,
        afterPreData: async (t) => {
          missingValues = await findMissing(t, regValues, false);
        },
      },
      findings,
    );
  }
  if (!missingValues && !sameDatabase) {
    // Without the rehearsal the target has the schema only when it has tables (a resumed
    // migration); roles belong to the server, so they are tried either way.
    const schemaThere = targetState.userTables.length > 0;
    const tried = schemaThere ? regValues : regValues.filter((c) => c.type === "regrole");
    missingValues = await findMissing(sides.target, tried, true);
  }
  reportMissingValues(missingValues ?? [], findings);
  await checkChangeLog(sides.source, targetState, findings);

  source.connections = { ...sourceSlots, needed };
  target.connections = await connectionBudget(sides.target, needed);
  reportBudget("source", source.connections, jobs, findings);
  reportBudget("target", target.connections, jobs, findings);

  report.tables = summarizeTables(tables);
  report.totals = { ...totals(report.tables), excludedTables: excluded.length, largeObjects };
  report.target = { ...publicFacts(target), userTables: targetState.userTables };
  report.source = publicFacts(source);
  return finish(report, findings);
}

function reportSelection(selected: number, excluded: string[], findings: Findings): void {
  if (excluded.length > 0) {
    findings.note({
      code: "TABLES_EXCLUDED",
      side: "source",
      message: `${plural(excluded.length, "table")} left out by --tables/--exclude: ${nameList(excluded)}.`,
      fix: "Nothing to do if intended; what uses them is reported on its own (EXCLUDED_TABLE_*).",
    });
  }
  if (selected === 0) {
    findings.warning({
      code: "NO_TABLES",
      side: "source",
      message: "There is no table to migrate (the source has none, or --tables/--exclude leave none).",
      fix: "Check the source URL's database name and the --tables/--exclude patterns.",
    });
  }
}

function emptyReport(source: ServerFacts, target: ServerFacts, pgDump: CheckReport["pgDump"]): CheckReport {
  return {
    ok: false,
    blockers: [],
    warnings: [],
    info: [],
    source: publicFacts(source),
    target: publicFacts(target),
    tables: [],
    extensions: [],
    totals: { tables: 0, rowsEstimate: 0, bytes: 0, excludedTables: 0, largeObjects: 0 },
    pgDump,
  };
}

/** What the report shows of a server: the internal version number and RLS flag stay inside. */
function publicFacts(s: ServerFacts): CheckReport["source"] {
  const { versionNum: _v, bypassRls: _b, ...rest } = s;
  return rest;
}

function finish(report: CheckReport, findings: Findings): CheckReport {
  report.blockers = findings.blockers;
  report.warnings = findings.warnings;
  report.info = findings.info;
  report.ok = findings.blockers.length === 0;
  return report;
}
