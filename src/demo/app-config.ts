import { readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * The demo app's configuration: its DATABASE_URL lives in a file, as it would in a platform's
 * config vars, and the app re-reads it often. pgferry's --switch-command replaces the file
 * atomically, which is all a switch needs: the app reconnects on its next attempt.
 */
export class DatabaseUrlFile {
  private value: string;
  private version = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly file: string,
    initial: string,
    pollMs = 25,
  ) {
    writeSecret(file, initial);
    this.value = initial;
    this.timer = setInterval(() => this.poll(), pollMs);
    this.timer.unref();
  }

  /** The URL the app should be connected to, and a number that changes whenever it does. */
  current(): { url: string; version: number } {
    return { url: this.value, version: this.version };
  }

  private poll(): void {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8").trim();
    } catch {
      return;
    }
    if (text && text !== this.value && /^postgres(ql)?:\/\//.test(text)) {
      this.value = text;
      this.version++;
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** Writes a file readable by its owner only (it holds a password), atomically. */
export function writeSecret(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  writeFileSync(tmp, `${text}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/** A POSIX shell word: the path in single quotes, any quote inside escaped. */
export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The switch command the demo hands to `pgferry cutover --switch-command`: pgferry passes the
 * target's URL in PGFERRY_TARGET_URL (never on a command line), and the command writes it to
 * the app's config file the way `heroku config:set DATABASE_URL=…` would, atomically.
 */
export function switchCommand(appUrlFile: string): string {
  const tmp = shellQuote(`${appUrlFile}.new`);
  return `(umask 077 && printf '%s\\n' "$PGFERRY_TARGET_URL" > ${tmp}) && mv ${tmp} ${shellQuote(appUrlFile)}`;
}
