import { PgferryError, type Side } from "./pgferry-error.js";
import { redact } from "./redact.js";

/** What a server error says of the code that raised it (node-postgres's fields). */
interface ServerError {
  code?: string;
  message?: string;
  where?: string;
  internalQuery?: string;
  side?: Side;
}

// One context line per call level, innermost first: "PL/pgSQL function public.log_ddl() line 5
// at RAISE", "SQL function \"f\" statement 1", "PL/Python function \"g\"", …
const CONTEXT_LINE = /^(?:[\w/]+ )?function ("(?:[^"]|"")+"|[^\s"(]+(?:\([^)]*\))?)(.*)$/;

/**
 * The user's function, trigger or event trigger that raised an error during a pgferry step,
 * when the server's error context names one (issue 12, item E): the error is the user's code
 * failing, not a pgferry bug, so it names that function and its statement instead of INTERNAL.
 * pgferry's own functions (schema pgferry) are not the user's: those fall through.
 */
export function userCodeError(err: unknown, step?: string): PgferryError | undefined {
  const e = err as ServerError | undefined;
  if (!e || typeof e.where !== "string" || typeof e.code !== "string") return undefined;
  const lines = e.where.split("\n").map((l) => l.trim());
  for (const line of lines) {
    const m = CONTEXT_LINE.exec(line);
    if (!m) continue;
    const fn = m[1]!.replace(/^"|"$/g, "");
    // pgferry's own functions, and DO blocks (only pgferry runs those in its sessions).
    if (/^"?pgferry"?\./.test(fn) || /^pgferry_/.test(fn) || fn === "inline_code_block") continue;
    const statement = e.internalQuery ? `; its statement: ${e.internalQuery.trim()}` : "";
    const during = step ? ` during ${step}` : "";
    const side = e.side ? ` on the ${e.side}` : "";
    return new PgferryError(
      "USER_OBJECT_FAILED",
      redact(
        `Your function ${fn}${side} raised an error${during}: ${e.message ?? e.code} (at ${line.replace(CONTEXT_LINE, "$1$2").trim()}${statement}).`,
      ),
      {
        ...(e.side ? { side: e.side } : {}),
        cause: err,
        hint: `The error comes from ${fn}, not from pgferry: a trigger, event trigger or function of yours fired on pgferry's work. Change it (or disable it with ALTER TABLE … DISABLE TRIGGER / ALTER EVENT TRIGGER … DISABLE for the migration), then run the command again.`,
      },
    );
  }
  return undefined;
}
