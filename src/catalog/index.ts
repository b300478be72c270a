export {
  exactPattern,
  excludeFlag,
  parseExactName,
  parsePatterns,
  type TableFilter,
  tableArg,
  tableMatcher,
} from "./filter.js";
export { listForeignTables } from "./foreign-tables.js";
export { type KeyRangeAfterThrough, type KeyValues, rangesFromBounds, WHOLE_KEY_RANGE } from "./key-range.js";
export {
  type Column,
  copyColumns,
  identityOf,
  listTables,
  type RelationRef,
  type RowIdentity,
  type SourceTable,
  SYSTEM_SCHEMAS,
  tableShape,
} from "./tables.js";
