export { ERROR_CODES, type ErrorCode, type ErrorSpec } from "./codes.js";
export { errorCodeOf } from "./error-code.js";
export { isPgferryError, PgferryError, type PgferryErrorOptions, type Side } from "./pgferry-error.js";
export { redact, registerSecret } from "./redact.js";
export { userCodeError } from "./user-code.js";
