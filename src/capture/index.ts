export {
  captureFunctionName,
  captureFunctionSql,
  FENCE_DOWN_SQL,
  FENCE_UP_SQL,
  HEARTBEAT_TABLE_ID,
  type RowImage,
  rowCaptureFunctionSql,
  TRIGGER_NAMES,
  triggerSql,
} from "./capture-sql.js";
export {
  type CaptureTarget,
  captureTargetOf,
  type FenceState,
  fenceState,
  type InstallOptions,
  installCaptureSchema,
  installTableCapture,
  lockHolders,
  rowImageOf,
} from "./install.js";
export {
  type KeyFormat,
  type KeyLeafType,
  keyFormatFor,
  readKeyFormat,
  readRowFormat,
} from "./key-format.js";
export {
  APPLY_SESSION_TEST,
  assertCaptureOwner,
  type CaptureOwner,
  claimCapture,
  DDL_SESSION_TEST,
  markDdlSession,
  OWNER_KEY,
  readCaptureOwner,
} from "./ownership.js";
export {
  type DropOptions,
  dropCaptureObjects,
  dropSchema,
  dropTriggers,
  lockBounded,
  pgferryTriggers,
  type TriggeredRelation,
} from "./remove.js";
export { disableUserTriggers, enableUserTriggers } from "./user-triggers.js";
