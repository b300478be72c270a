// Contract stub: replaced by the check stage (issue 2).
import type { ConnInfo } from "../db/index.js";
import { PgferryError } from "../errors/index.js";

export interface Finding {
  code: string;
  message: string;
  fix: string;
  table?: string;
}

export interface CheckReport {
  ok: boolean;
  blockers: Finding[];
  warnings: Finding[];
  info: Finding[];
  source: Record<string, unknown>;
  target: Record<string, unknown>;
}

export interface CheckOptions {
  source: ConnInfo;
  target: ConnInfo;
  pgDump?: string;
  jobs?: number;
  include?: string[];
  exclude?: string[];
  /** When false, the "target has user tables" blocker is skipped (start resuming its own migration). */
  requireEmptyTarget?: boolean;
}

export async function runCheck(_opts: CheckOptions): Promise<CheckReport> {
  throw new PgferryError("INTERNAL", "check is not built yet");
}
