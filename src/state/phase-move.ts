import { PgferryError } from "../errors/index.js";

/**
 * A phase change names the phases it may start from (`from`) and those in which it is a
 * deliberate no-op (`skip`: another process is already further, or a rerun finds it done).
 * Any other stored phase is a move the pipeline does not allow: it changes nothing and
 * fails loudly instead of leaving a silent "0 rows updated".
 */
export interface PhaseMove<P extends string> {
  from: readonly P[];
  to: P;
  skip?: readonly P[];
}

/** Decides what a move that updated no row means: a skip (false) or an illegal move (throws). */
export function unmovedPhase<P extends string>(
  what: string,
  current: P | undefined,
  move: PhaseMove<P>,
): false {
  if (current === undefined || move.skip?.includes(current)) return false;
  throw new PgferryError(
    "ILLEGAL_PHASE_MOVE",
    `${what} is in phase '${current}' and cannot move to '${move.to}' (allowed from: ${move.from.join(", ")}).`,
    { side: "target" },
  );
}
