/**
 * Just enough of PostgreSQL's lexical rules to cut pg_dump output safely: a `;` or a `--`
 * inside a string, a quoted identifier, a dollar-quoted function body or a block comment is
 * text, not syntax. We never parse whole statements; we read names off their first tokens.
 */

/** Where the scanner is at the end of a piece of text: top level, or inside a quoted span. */
export type LexState =
  | { in: "top" }
  | { in: "string"; escape: boolean }
  | { in: "ident" }
  | { in: "dollar"; tag: string }
  | { in: "block"; depth: number };

export const TOP: LexState = { in: "top" };

const DOLLAR_TAG = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;

/** Advances one step inside a quoted span or comment; returns the next index and state. */
function stepInside(text: string, i: number, s: Exclude<LexState, { in: "top" }>): [number, LexState] {
  const c = text[i]!;
  switch (s.in) {
    case "string":
      if (s.escape && c === "\\") return [i + 2, s];
      if (c !== "'") return [i + 1, s];
      return text[i + 1] === "'" ? [i + 2, s] : [i + 1, TOP];
    case "ident":
      if (c !== '"') return [i + 1, s];
      return text[i + 1] === '"' ? [i + 2, s] : [i + 1, TOP];
    case "dollar":
      return c === "$" && text.startsWith(s.tag, i) ? [i + s.tag.length, TOP] : [i + 1, s];
    case "block":
      if (c === "*" && text[i + 1] === "/")
        return [i + 2, s.depth === 1 ? TOP : { in: "block", depth: s.depth - 1 }];
      if (c === "/" && text[i + 1] === "*") return [i + 2, { in: "block", depth: s.depth + 1 }];
      return [i + 1, s];
  }
}

/** At a top-level position: the state a quote or comment opener starts, and its length. */
function opener(text: string, i: number): [LexState, number] | undefined {
  const c = text[i]!;
  if (c === "/" && text[i + 1] === "*") return [{ in: "block", depth: 1 }, 2];
  if (c === "'") {
    const prev = text[i - 1];
    const backslashes = (prev === "E" || prev === "e") && !/[A-Za-z0-9_$]/.test(text[i - 2] ?? " ");
    return [{ in: "string", escape: backslashes }, 1];
  }
  if (c === '"') return [{ in: "ident" }, 1];
  if (c === "$" && !/[A-Za-z0-9_]/.test(text[i - 1] ?? " ")) {
    const m = DOLLAR_TAG.exec(text.slice(i, i + 64));
    if (m) return [{ in: "dollar", tag: m[0] }, m[0].length];
  }
  return undefined;
}

/**
 * Scans `text` from `state`, calling `onTop(i)` for every character index that is at top
 * level (outside quotes and comments). Returns the state at the end of the text.
 */
export function scan(text: string, state: LexState, onTop?: (i: number) => void): LexState {
  let s = state;
  let i = 0;
  while (i < text.length) {
    if (s.in !== "top") {
      [i, s] = stepInside(text, i, s);
      continue;
    }
    if (text[i] === "-" && text[i + 1] === "-") {
      const nl = text.indexOf("\n", i);
      i = nl < 0 ? text.length : nl;
      continue;
    }
    const open = opener(text, i);
    if (open) {
      [s] = open;
      i += open[1];
      continue;
    }
    onTop?.(i);
    i++;
  }
  return s;
}

/** Splits SQL text into statements at top-level semicolons; comments-only pieces are dropped. */
export function splitStatements(text: string): string[] {
  const cuts: number[] = [];
  scan(text, TOP, (i) => {
    if (text[i] === ";") cuts.push(i);
  });
  const out: string[] = [];
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    const piece = text.slice(from, cut).trim();
    from = cut + 1;
    if (piece && tokenize(piece).length > 0) out.push(piece);
  }
  return out;
}

export interface Token {
  /** word: a bare word (keyword or identifier); quoted: a "quoted identifier"; other: anything else. */
  type: "word" | "quoted" | "string" | "punct" | "other";
  /** The identifier as PostgreSQL sees it (bare words folded to lower case, quotes removed). */
  value: string;
  /** The text as written. */
  raw: string;
  /** Offset of the token in the statement. */
  at: number;
}

/** Tokens of one statement, comments skipped. Good for names, not for expressions. */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "-" && sql[i + 1] === "-") {
      const nl = sql.indexOf("\n", i);
      i = nl < 0 ? sql.length : nl;
    } else if (c === "/" && sql[i + 1] === "*") {
      i = spanEnd(sql, i);
    } else if (c === '"') {
      const end = spanEnd(sql, i);
      const raw = sql.slice(i, end);
      tokens.push({ type: "quoted", value: raw.slice(1, -1).replace(/""/g, '"'), raw, at: i });
      i = end;
    } else if (c === "'" || (c === "$" && opener(sql, i))) {
      const end = spanEnd(sql, i);
      tokens.push({ type: "string", value: sql.slice(i, end), raw: sql.slice(i, end), at: i });
      i = end;
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      const m = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(sql.slice(i))!;
      if ((m[0] === "E" || m[0] === "e") && sql[i + 1] === "'") {
        const end = spanEnd(sql, i + 1);
        tokens.push({ type: "string", value: sql.slice(i, end), raw: sql.slice(i, end), at: i });
        i = end;
        continue;
      }
      tokens.push({ type: "word", value: m[0].toLowerCase(), raw: m[0], at: i });
      i += m[0].length;
    } else if ("(),.;=[]".includes(c)) {
      tokens.push({ type: "punct", value: c, raw: c, at: i });
      i++;
    } else {
      const m = /^[^\s(),.;=[\]"'A-Za-z_]+/.exec(sql.slice(i));
      const raw = m ? m[0] : c;
      tokens.push({ type: "other", value: raw, raw, at: i });
      i += raw.length;
    }
  }
  return tokens;
}

/** The index just past a quoted span or comment that opens at `start`. */
function spanEnd(sql: string, start: number): number {
  const open = opener(sql, start)!;
  let [s] = open;
  let i = start + open[1];
  while (i < sql.length && s.in !== "top") [i, s] = stepInside(sql, i, s);
  return i;
}

/** A schema-qualified name read from SQL, with its text as written (already quoted). */
export interface QualifiedName {
  schema: string;
  name: string;
  raw: string;
}

/** A cursor over the tokens of one statement, with the few readers the classifier needs. */
export class TokenReader {
  private pos = 0;
  readonly tokens: Token[];
  constructor(readonly sql: string) {
    this.tokens = tokenize(sql);
  }

  /** Consumes the given keywords (case-insensitive bare words) if they come next, in order. */
  accept(...words: string[]): boolean {
    for (let k = 0; k < words.length; k++) {
      const t = this.tokens[this.pos + k];
      if (t?.type !== "word" || t.value !== words[k]) return false;
    }
    this.pos += words.length;
    return true;
  }

  expect(...words: string[]): void {
    if (!this.accept(...words)) throw new SyntaxError(`expected ${words.join(" ").toUpperCase()}`);
  }

  /** One identifier (bare or quoted) and its raw text. */
  nameToken(): Token {
    const t = this.tokens[this.pos];
    if (!t || (t.type !== "word" && t.type !== "quoted")) throw new SyntaxError("expected a name");
    this.pos++;
    return t;
  }

  name(): string {
    return this.nameToken().value;
  }

  /** schema.name (pg_dump qualifies every name it can); a lone name gets schema "". */
  qualifiedName(): QualifiedName {
    const first = this.nameToken();
    const dot = this.tokens[this.pos];
    if (dot?.type === "punct" && dot.value === ".") {
      this.pos++;
      const second = this.nameToken();
      return { schema: first.value, name: second.value, raw: `${first.raw}.${second.raw}` };
    }
    return { schema: "", name: first.value, raw: first.raw };
  }

  /** Skips to just after the next bare keyword `word` at parenthesis depth 0. */
  skipTo(word: string): boolean {
    let depth = 0;
    for (let p = this.pos; p < this.tokens.length; p++) {
      const t = this.tokens[p]!;
      if (t.type === "punct" && t.value === "(") depth++;
      else if (t.type === "punct" && t.value === ")") depth--;
      else if (depth === 0 && t.type === "word" && t.value === word) {
        this.pos = p + 1;
        return true;
      }
    }
    return false;
  }

  /** A parenthesised group starting here, as written (with its parentheses). */
  group(): string {
    const open = this.tokens[this.pos];
    if (open?.type !== "punct" || open.value !== "(") throw new SyntaxError("expected (");
    let depth = 0;
    for (let p = this.pos; p < this.tokens.length; p++) {
      const t = this.tokens[p]!;
      if (t.type === "punct" && t.value === "(") depth++;
      else if (t.type === "punct" && t.value === ")" && --depth === 0) {
        this.pos = p + 1;
        return this.sql.slice(open.at, t.at + 1);
      }
    }
    throw new SyntaxError("unbalanced parentheses");
  }

  peekWord(): string | undefined {
    const t = this.tokens[this.pos];
    return t?.type === "word" ? t.value : undefined;
  }

  atEnd(): boolean {
    return this.pos >= this.tokens.length;
  }
}
