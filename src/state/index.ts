export { CONTROL_SCHEMA, ensureControlSchema, hasMigration } from "./control-schema.js";
export { CUTOVER_LOCK_KEY, cutoverLockHeld } from "./cutover-lock.js";
export { type EventLevel, recordEvent } from "./events.js";
export {
  type MigrationPhase,
  type MigrationRow,
  migrationToken,
  readMigration,
  setPhase,
  type TablePhase,
} from "./migration-row.js";
export {
  newSourceTables,
  storedFilter,
  type UnmigratedTable,
  unmigratedAmong,
} from "./migration-scope.js";
export {
  assertSameSource,
  isSameSource,
  parseIdentity,
  readSourceIdentity,
  type SourceIdentity,
  sameSource,
} from "./source-identity.js";
export {
  readStartLiveness,
  START_BEAT_MS,
  START_MISSED_BEATS,
  START_STALE_SECONDS,
  type StartHeartbeat,
  type StartLiveness,
  type StartRole,
  startHeartbeat,
} from "./start-heartbeat.js";
