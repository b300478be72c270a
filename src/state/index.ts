export {
  type ChunkClaimRow,
  insertChunks,
  lockNextChunk,
  markChunkDone,
  type NewChunk,
} from "./chunks.js";
export { CONTROL_SCHEMA, ensureControlSchema, hasMigration } from "./control-schema.js";
export { CUTOVER_LOCK_KEY, cutoverLockHeld } from "./cutover-lock.js";
export { type EventLevel, lastEventDetails, readShownEvents, recordEvent } from "./events.js";
export {
  closeRollbackWindow,
  controlTableExists,
  insertMigration,
  type MigrationRow,
  mergeMigrationOptions,
  migrationToken,
  moveMigration,
  openRollbackWindow,
  phasesExcept,
  readMigration,
  readMigrationIfAny,
  recordReverseRound,
  recordStartLeft,
  setMigrationTimes,
  setSwitchMark,
  storeStreamFigures,
} from "./migration-row.js";
export {
  newSourceTables,
  storedFilter,
  type UnmigratedTable,
  unmigratedAmong,
} from "./migration-scope.js";
export type { PhaseMove } from "./phase-move.js";
export {
  APPLIED_PHASES,
  COPIED_PHASES,
  CUT_OVER_PHASES,
  INDEXED_PHASES,
  MIGRATION_PHASES,
  type MigrationPhase,
  phaseIn,
  TABLE_PHASES,
  type TablePhase,
} from "./phases.js";
export {
  deferToCutover,
  heldBackIndexNames,
  insertPostData,
  markPostDataDone,
  markPostDataUndone,
  markValidated,
  type NewPostData,
  type PostDataRow,
  type PostDataStage,
  readPostData,
  validationPending,
} from "./post-data.js";
export { controlColumns, readApplyState, readChunkRates, readTableProgress } from "./progress-read.js";
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
export {
  advanceIdleTables,
  claimPendingTable,
  countTables,
  deleteTables,
  insertTableRows,
  lockAppliedTableSql,
  markCopiedTables,
  moveTable,
  type NewTableRow,
  nextTableId,
  readTable,
  readTables,
  type StoredColumn,
  setTablePosition,
  stageCounts,
  storePendingCounts,
  storeSourceOids,
  type TableMoveSet,
  type TableRow,
  tablesToIndex,
  tableTotals,
  toTableRow,
  totalChangesApplied,
  windowAppliedSql,
} from "./tables.js";
