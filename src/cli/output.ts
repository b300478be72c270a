import { redact } from "../errors/index.js";

/**
 * Everything the CLI prints goes through here: secrets are scrubbed from every line, and
 * colour is used only on a terminal (and never when NO_COLOR is set).
 */
export interface Output {
  readonly isTTY: boolean;
  readonly color: boolean;
  line(text?: string): void;
  error(text: string): void;
  json(value: unknown): void;
  /** Raw write for live redraws; the caller owns cursor control. */
  write(text: string): void;
}

export function makeOutput(stream: NodeJS.WriteStream = process.stdout, errStream = process.stderr): Output {
  // `pgferry status | head -1`: the reader went away; that ends the output, quietly.
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  const isTTY = Boolean(stream.isTTY);
  const color = isTTY && !process.env["NO_COLOR"] && process.env["TERM"] !== "dumb";
  return {
    isTTY,
    color,
    line: (text = "") => void stream.write(`${redact(text)}\n`),
    error: (text) => void errStream.write(`${redact(text)}\n`),
    json: (value) => void stream.write(`${redact(JSON.stringify(value))}\n`),
    write: (text) => void stream.write(redact(text)),
  };
}

const CODES = {
  red: 31,
  green: 32,
  yellow: 33,
  blue: 34,
  magenta: 35,
  cyan: 36,
  gray: 90,
  bold: 1,
  dim: 2,
} as const;
export type Style = keyof typeof CODES;

export function paint(out: Pick<Output, "color">, style: Style, text: string): string {
  return out.color ? `\u001b[${CODES[style]}m${text}\u001b[0m` : text;
}
