/**
 * pgferry as a library: every command of the CLI is a function here that returns data and
 * reports progress through typed events; nothing prints and nothing exits the process.
 */
export { type CheckOptions, type CheckReport, type Finding, runCheck } from "./check/index.js";
export { type CleanupOptions, type CleanupReport, cleanup } from "./cleanup/index.js";
export type { MigrationContext } from "./context.js";
export {
  type CutoverOptions,
  type CutoverResult,
  cutover,
  type RollbackOptions,
  type RollbackResult,
  rollback,
} from "./cutover/index.js";
export { type ConnInfo, parseConnUrl, resolveUrl } from "./db/index.js";
export { ERROR_CODES, type ErrorCode, isPgferryError, PgferryError, redact } from "./errors/index.js";
export {
  herokuLikeDatabase,
  type LocalDatabase,
  LocalServer,
  rdsLikeDatabase,
  SHIPPED_MAJORS,
} from "./local-server/index.js";
export { runMigration, type StartOptions, type StartResult } from "./migration.js";
export type { EventSink, PgferryEvent, StageName } from "./progress/events.js";
export { readStatus } from "./progress/status.js";
export type { StatusReport, TableStatus } from "./progress/status-model.js";
export { catchUp, runStream, type StreamOptions, syncSequences } from "./stream/index.js";
export { quickVerify, type VerifyOptions, type VerifyReport, verify } from "./verify/index.js";
