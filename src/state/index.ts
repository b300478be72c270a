export { CONTROL_SCHEMA, ensureControlSchema, hasMigration } from "./control-schema.js";
export { type EventLevel, recordEvent } from "./events.js";
export {
  type MigrationPhase,
  type MigrationRow,
  readMigration,
  setPhase,
  type TablePhase,
} from "./migration-row.js";
export { assertSameSource } from "./source-identity.js";
