export type { Difference, SequenceVerdict, TableVerdict, VerifyOptions, VerifyReport } from "./types.js";
export { VERIFY_DEFAULTS } from "./types.js";
export { type QuickVerifyOptions, quickVerify, verify } from "./verify.js";
