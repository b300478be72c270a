import { ERROR_CODES, type ErrorCode } from "./codes.js";

export type Side = "source" | "target" | "local";

export interface PgferryErrorOptions {
  hint?: string;
  side?: Side;
  cause?: unknown;
}

/** The one error type the library throws on purpose: a stable code, a message, and the fix. */
export class PgferryError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly side: Side | undefined;

  constructor(code: ErrorCode, message: string, options: PgferryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PgferryError";
    this.code = code;
    this.hint = options.hint ?? ERROR_CODES[code].hint;
    this.side = options.side;
  }

  get exitCode(): 1 | 2 | 130 {
    return ERROR_CODES[this.code].exit;
  }

  toJSON(): { code: ErrorCode; message: string; hint: string; side?: Side } {
    return {
      code: this.code,
      message: this.message,
      hint: this.hint,
      ...(this.side ? { side: this.side } : {}),
    };
  }
}

export function isPgferryError(err: unknown): err is PgferryError {
  return err instanceof PgferryError;
}
