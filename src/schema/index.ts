// The schema stage: pg_dump of the source, split into what the target gets before the copy
// (pre-data) and the post-data items built per table after its copy or at cutover.
export { type ApplyOptions, applyPreData, rehearsePostData, type SchemaFailure } from "./apply.js";
export { constraintAsIndex } from "./constraint-index.js";
export { dumpSchema, pgDumpArgs } from "./dump.js";
export { type DumpEntry, splitDump } from "./dump-text.js";
export { type HintContext, schemaErrorHint, schemaFixSql } from "./hints.js";
export { locatePgDump, type PgDumpBinary, requirePgDump } from "./pg-dump-binary.js";
export { type ClassifyContext, classifyPostData, PGFERRY_TRIGGER_PREFIX } from "./post-data.js";
export { preparePreData } from "./pre-data.js";
export { exactTablePattern } from "./run-pg-dump.js";
export { storePostData } from "./store.js";
export {
  type DumpOptions,
  type PostDataItem,
  type PostDataKind,
  type RelationName,
  relationKey,
  type SchemaDump,
  type SkippedEntry,
} from "./types.js";
