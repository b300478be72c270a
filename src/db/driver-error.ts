import { type ErrorCode, isPgferryError, PgferryError, redact, type Side } from "../errors/index.js";
import { isTransient } from "./retry.js";
import { driverFields, SQLSTATE, sqlState } from "./sqlstate.js";

/** Where a driver error happened and what was being done, for fromDriverError. */
export interface DriverErrorContext {
  /** The side whose server or connection failed; undefined when it is not known. */
  side: Side | undefined;
  /** What was being done; leads the message: "<what>: <the server's message>". */
  what?: string;
  /** The code of a failure no rule below names. Default INTERNAL. */
  otherwise?: ErrorCode;
  /** A lead per code, instead of `what` ("Copying chunk 3 of t failed" for COPY_FAILED). */
  leads?: Partial<Record<ErrorCode, string>>;
  /** A fix per code, instead of the catalogue's. */
  hints?: Partial<Record<ErrorCode, string>>;
}

/**
 * The one mapping of a driver (pg) or network error raised by a statement to a PgferryError,
 * in this order:
 *
 * | the error | code |
 * | --- | --- |
 * | already a PgferryError | itself |
 * | 55P03 lock_not_available (lock_timeout) | LOCK_TIMEOUT |
 * | the session or transaction is gone (`isTransient`) | CONNECTION_LOST |
 * | 42501 naming row-level security (row_security = off) | ROW_SECURITY |
 * | 42501 insufficient_privilege | PERMISSION_DENIED |
 * | anything else | `otherwise` (INTERNAL) |
 *
 * The message is the server's, scrubbed of passwords (`redact`), after the lead. A failure to
 * connect is `connectError`'s (it knows the URL).
 */
export function fromDriverError(err: unknown, ctx: DriverErrorContext): PgferryError {
  if (isPgferryError(err)) return err;
  const code = driverCode(err, ctx.otherwise ?? "INTERNAL");
  const detail = redact(driverFields(err).message ?? String(err));
  const lead = ctx.leads?.[code] ?? ctx.what;
  const hint = ctx.hints?.[code];
  return new PgferryError(code, lead ? `${lead}: ${detail}` : detail, {
    cause: err,
    ...(ctx.side ? { side: ctx.side } : {}),
    ...(hint ? { hint } : {}),
  });
}

/** The pgferry code fromDriverError gives `err` (not a PgferryError). */
export function driverCode(err: unknown, otherwise: ErrorCode = "INTERNAL"): ErrorCode {
  const state = sqlState(err);
  if (state === SQLSTATE.lockNotAvailable) return "LOCK_TIMEOUT";
  if (isTransient(err)) return "CONNECTION_LOST";
  if (state === SQLSTATE.insufficientPrivilege)
    return /row-level security/i.test(driverFields(err).message ?? "") ? "ROW_SECURITY" : "PERMISSION_DENIED";
  return otherwise;
}
