import type { Output } from "../output.js";
import { fitWidth } from "./format.js";

const ESC = "\u001b[";
export const CURSOR_UP = (n: number) => `${ESC}${n}A`;
export const CLEAR_LINE = `${ESC}2K`;
export const HIDE_CURSOR = `${ESC}?25l`;
export const SHOW_CURSOR = `${ESC}?25h`;

/**
 * A block of lines redrawn in place on a terminal: the cursor goes back up over the previous
 * frame and each line is cleared and rewritten in one write, so there is no flicker. Lines are
 * cut to the terminal width (a wrapped line would throw the cursor arithmetic off). Messages
 * are printed above the block, which then follows them down.
 */
export class LiveView {
  private drawn = 0;
  private hidden = false;
  private last: string[] = [];

  constructor(
    private readonly out: Pick<Output, "write">,
    private readonly width: () => number = () => process.stdout.columns || 100,
  ) {}

  /** Replaces the block with `lines`. */
  render(lines: string[]): void {
    this.last = lines;
    this.out.write(this.frame(lines, ""));
  }

  /** Prints a line above the block and redraws the block under it. */
  message(text: string): void {
    this.out.write(this.frame(this.last, `${CLEAR_LINE}${text}\n`));
  }

  /** Leaves the last frame on screen and gives the cursor back. */
  stop(): void {
    if (this.hidden) this.out.write(SHOW_CURSOR);
    this.hidden = false;
    this.drawn = 0;
  }

  private frame(lines: string[], before: string): string {
    const w = this.width();
    const up = this.drawn > 0 ? CURSOR_UP(this.drawn) : this.hidden ? "" : HIDE_CURSOR;
    this.hidden = true;
    const body = lines.map((l) => `${CLEAR_LINE}${fitWidth(l, w)}\n`).join("");
    // When the new block is shorter, clear what is left of the old one below it.
    const extra = Math.max(0, this.drawn - lines.length - (before ? 1 : 0));
    const tail = extra > 0 ? `${`${CLEAR_LINE}\n`.repeat(extra)}${CURSOR_UP(extra)}` : "";
    this.drawn = lines.length;
    return `\r${up}${before}${body}${tail}`;
  }
}
