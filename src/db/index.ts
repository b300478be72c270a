export { type ConnInfo, libpqEnv, parseConnUrl, resolveUrl, type SslMode, tlsOptions } from "./conn-info.js";
export {
  CANONICAL_SETTINGS,
  connect,
  connectError,
  isTransient,
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
} from "./connection-budget.js";
export { ident, identList, literal, qualified } from "./quote.js";
export {
  DEFAULT_STALL_TIMEOUT_MS,
  type StallDetails,
  StallError,
  stallOf,
  stallTimeoutMs,
} from "./watchdog.js";
