import type { Output } from "../output.js";
import { fitWidth } from "./format.js";

const ESC = "\u001b[";
export const CURSOR_UP = (n: number) => `${ESC}${n}A`;
/** Erases from the cursor to the end of the screen: the whole old block, however it wrapped. */
export const CLEAR_BELOW = `${ESC}J`;
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

  /**
   * Prints a line above the block and redraws the block under it. The message may be wider
   * than the terminal: it scrolls away above the block, so its wrapping never matters.
   */
  message(text: string): void {
    this.out.write(this.frame(this.last, `${text}\n`));
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
    const body = lines.map((l) => `${fitWidth(l, w)}\n`).join("");
    this.drawn = lines.length;
    // One write: back to the top of the old block, erase it and everything below, draw anew.
    return `\r${up}${CLEAR_BELOW}${before}${body}`;
  }
}
