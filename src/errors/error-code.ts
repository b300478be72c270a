import { isPgferryError } from "./pgferry-error.js";

/**
 * The code to file a failure under: its catalogue code, or the SQLSTATE of a server error
 * (a retried lock timeout is 55P03), or undefined for anything else (a socket reset).
 */
export function errorCodeOf(err: unknown): string | undefined {
  if (isPgferryError(err)) return err.code;
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return cause !== undefined && cause !== err ? errorCodeOf(cause) : undefined;
}
