import type { Command } from "commander";
import type { PgferryEvent } from "../progress/events.js";
import type { Output } from "./output.js";

export interface CliContext {
  out: Output;
  /** Set by a command's action: the process exit status. */
  setExit(code: number): void;
  /** Aborted on the first Ctrl-C; the second Ctrl-C exits at once. */
  signal: AbortSignal;
  debug(): boolean;
  /**
   * Shows a short notice (such as "stopping at the next safe point"). Plain stderr by default;
   * a command drawing a live view replaces it so the notice prints above the view.
   */
  notice: (text: string) => void;
  /**
   * Appends an event to the command's log file (src/cli/log-file.ts); a no-op until a command
   * that keeps one opens it. The error boundary records how the command ended through it.
   */
  record: (e: PgferryEvent) => void;
}

/** Each command file registers itself on the program; the work is loaded lazily inside its action. */
export type RegisterCommand = (program: Command, ctx: CliContext) => void;
