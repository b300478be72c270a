export { type ConnInfo, libpqEnv, parseConnUrl, resolveUrl, type SslMode, tlsOptions } from "./conn-info.js";
export {
  CANONICAL_SETTINGS,
  cancelOnAbort,
  connect,
  connectError,
  lockTimeoutValue,
  type SessionOptions,
  type Stage,
  serverMajor,
  withClient,
} from "./connect.js";
export {
  type ConnectionSlots,
  connectionSlots,
  defaultIndexJobs,
  defaultJobs,
  EXTRA_CONNECTIONS,
  sourceConnectionBudget,
} from "./connection-budget.js";
export { connectionCap, MIN_CONNECTION_CAP, withConnectionCap } from "./connection-cap.js";
export { type DriverErrorContext, driverCode, fromDriverError } from "./driver-error.js";
export { DDL_LOCK_TIMEOUT_MS, type LockBoundedOptions, lockBoundedTransaction } from "./lock-bounded.js";
export { openSessions } from "./open-sessions.js";
export { ident, identList, literal, qualified, sqlIdent } from "./quote.js";
export { Backoff, type BackoffOptions, isRetryable, isTransient, MAX_OUTAGE_MS, sleep } from "./retry.js";
export {
  type DriverErrorFields,
  driverFields,
  SQLSTATE,
  SQLSTATE_CLASS,
  type SqlState,
  sqlState,
  sqlStateClass,
} from "./sqlstate.js";
export { withTransaction } from "./transaction.js";
export {
  DEFAULT_STALL_TIMEOUT_MS,
  type StallDetails,
  StallError,
  stallOf,
  stallTimeoutMs,
} from "./watchdog.js";
