import { isPgferryError } from "./pgferry-error.js";

/**
 * The code to file a failure under: its catalogue code, or the SQLSTATE of a server error
 * (a retried lock timeout is 55P03), or undefined for anything else (a socket reset).
 */
export function errorCodeOf(err: unknown): string | undefined {
  if (isPgferryError(err)) return err.code;
  if (typeof err !== "object" || err === null) return undefined;
  // The same reading as db's sqlState (errors/ sits below db/, so it cannot import it).
  const code = "code" in err ? err.code : undefined;
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  const cause = "cause" in err ? err.cause : undefined;
  return cause !== undefined && cause !== err ? errorCodeOf(cause) : undefined;
}
