import type { ConnectionSlots, ConnInfo } from "../db/index.js";
import type { EventSink } from "../progress/events.js";
import { FINDING_CODES, type FindingCode } from "./codes.js";

export type Severity = "blocker" | "warning" | "info";

/** One thing check found: what it is, and what to do about it. */
export interface Finding {
  /** Stable code (the catalogue in codes.ts; docs/commands/check.md lists every one). */
  code: FindingCode;
  message: string;
  fix: string;
  /** "schema.name" when the finding is about one table. */
  table?: string;
  side?: "source" | "target" | "local";
  /** When the fix is SQL: the statements `fix` prints, for a script or a test to run as they are. */
  sql?: FixSql;
}

/**
 * SQL that carries out a fix: where to run it, and by whom: an administrator (a superuser, or
 * a managed service's admin role), the owner of the objects it names, or the role pgferry
 * connects as on that side.
 */
export interface FixSql {
  side: "source" | "target";
  by: "administrator" | "owner" | "migration role";
  statements: string;
}

export interface ServerSummary {
  url: string;
  /** server_version as the server reports it, e.g. "15.4". */
  version: string;
  major: number;
  user: string;
  database: string;
  ssl: boolean;
  superuser: boolean;
  connections?: ConnectionBudget;
  [extra: string]: unknown;
}

export interface ConnectionBudget extends ConnectionSlots {
  needed: number;
}

export interface TableSummary {
  name: string;
  kind: "table" | "partitioned";
  /** Key columns, or null when the table has no usable replication key. */
  key: string[] | null;
  keyKind: "primary" | "unique" | null;
  keyIndex: string | null;
  rowsEstimate: number;
  bytes: number;
}

export interface ExtensionSummary {
  name: string;
  version: string;
  schema: string;
  /** The target offers some version of it (pg_available_extensions). */
  availableOnTarget: boolean;
  targetDefaultVersion: string | null;
  installedOnTarget: boolean;
  /** The target role can create it: superuser, trusted (PG13+), or already installed. */
  creatableOnTarget: boolean;
}

export interface CheckReport {
  ok: boolean;
  blockers: Finding[];
  warnings: Finding[];
  info: Finding[];
  source: ServerSummary | Record<string, unknown>;
  target: ServerSummary | Record<string, unknown>;
  tables: TableSummary[];
  extensions: ExtensionSummary[];
  totals: {
    tables: number;
    rowsEstimate: number;
    bytes: number;
    excludedTables: number;
    largeObjects: number;
  };
  pgDump: { path: string; version: string; major: number } | null;
}

export interface CheckOptions {
  source: ConnInfo;
  target: ConnInfo;
  /** Path of pg_dump (--pg-dump); PATH is searched otherwise. */
  pgDump?: string;
  /** Copy workers pgferry start will run (its --jobs); pgferry opens jobs + 3 connections. */
  jobs?: number;
  include?: string[];
  exclude?: string[];
  /** When false, the "target has user tables" blocker is skipped (start resuming its own migration). */
  requireEmptyTarget?: boolean;
  /**
   * Default true: apply the source's schema on the (empty) target in a transaction that is
   * rolled back, reporting every statement the target refuses. start's preflight passes false.
   */
  rehearseSchema?: boolean;
  /** A transaction open longer than this, in seconds, is reported (default 60). */
  longTransactionSeconds?: number;
  emit?: EventSink;
}

export const DEFAULT_LONG_TRANSACTION_SECONDS = 60;

/** Collects findings by severity; probes add to it, runCheck turns it into the report. */
export class Findings {
  readonly blockers: Finding[] = [];
  readonly warnings: Finding[] = [];
  readonly info: Finding[] = [];

  add(severity: Severity, finding: Finding): void {
    // A code reported at a severity the catalogue (and so the docs) does not give it is a bug here.
    if (!(FINDING_CODES[finding.code] as readonly Severity[]).includes(severity)) {
      throw new Error(`check finding ${finding.code} reported as ${severity}`);
    }
    const list = severity === "blocker" ? this.blockers : severity === "warning" ? this.warnings : this.info;
    list.push(finding);
  }
  blocker(f: Finding): void {
    this.add("blocker", f);
  }
  warning(f: Finding): void {
    this.add("warning", f);
  }
  note(f: Finding): void {
    this.add("info", f);
  }
}

export function tableName(t: { schema: string; name: string }): string {
  return `${t.schema}.${t.name}`;
}

/** Lists at most `max` names, then "and N more". */
export function nameList(names: readonly string[], max = 10): string {
  if (names.length <= max) return names.join(", ");
  return `${names.slice(0, max).join(", ")} and ${names.length - max} more`;
}
