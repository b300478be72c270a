import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

// Issue 10 item 5: every query whose rows are read names its row type. node-postgres'
// `client.query<R>()` defaults R to `any`, so an untyped `rows[0].whatever` type-checks
// silently; this scan finds every `.query(…)` call whose result is used (assigned,
// destructured, `.rows` read, returned, passed on) without a type argument, or with `any`.
// A result that is discarded, or of which only `rowCount` / `command` is read, needs none.

const SRC = path.resolve(import.meta.dirname, "../../src");
/** Fields of a query result that do not depend on the row type. */
const ROWLESS_FIELDS = new Set(["rowCount", "command"]);

function sourceFiles(): string[] {
  return readdirSync(SRC, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))
    .map((f) => f.split(path.sep).join("/"))
    .sort();
}

/** The outermost expression that still stands for the call's result (await, parentheses, casts). */
function resultExpression(call: ts.Expression): ts.Expression {
  let node: ts.Expression = call;
  for (;;) {
    const p = node.parent;
    if (
      ts.isAwaitExpression(p) ||
      ts.isParenthesizedExpression(p) ||
      ts.isAsExpression(p) ||
      ts.isNonNullExpression(p) ||
      ts.isSatisfiesExpression(p)
    ) {
      node = p;
      continue;
    }
    // `wrap(() => c.query(…))`: the callback's result goes to `wrap`; follow what becomes of
    // wrap's (a generic wrapper such as withClient or onSide hands it back).
    if (
      ts.isArrowFunction(p) &&
      p.body === node &&
      ts.isCallExpression(p.parent) &&
      p.parent.arguments.includes(p)
    ) {
      node = p.parent;
      continue;
    }
    // `q.catch(…)` / `q.finally(…)`: the same result (or nothing) flows on.
    if (ts.isPropertyAccessExpression(p) && (p.name.text === "catch" || p.name.text === "finally")) {
      const outer = p.parent;
      if (ts.isCallExpression(outer) && outer.expression === p) {
        node = outer;
        continue;
      }
    }
    return node;
  }
}

/** Whether every use of `name` inside `scope` reads only a rowless field. */
function onlyRowlessUses(name: string, scope: ts.Node, decl: ts.Node): boolean {
  let ok = true;
  const visit = (n: ts.Node): void => {
    if (!ok) return;
    if (ts.isIdentifier(n) && n.text === name && n !== decl) {
      const p = n.parent;
      if (!(ts.isPropertyAccessExpression(p) && p.expression === n && ROWLESS_FIELDS.has(p.name.text)))
        ok = false;
    }
    ts.forEachChild(n, visit);
  };
  visit(scope);
  return ok;
}

/**
 * `client.query(new CopyOutFrames(…))`, `client.query(copyTo(…))`: a submittable (a COPY
 * stream) returns itself, not rows.
 */
function isSubmittable(call: ts.CallExpression): boolean {
  const arg = call.arguments[0];
  if (arg === undefined) return false;
  if (ts.isNewExpression(arg)) return true;
  return (
    ts.isCallExpression(arg) && ts.isIdentifier(arg.expression) && /^copy(To|From)$/.test(arg.expression.text)
  );
}

function resultIsRead(call: ts.CallExpression): boolean {
  if (isSubmittable(call)) return false;
  const expr = resultExpression(call);
  const p = expr.parent;
  if (ts.isExpressionStatement(p) || ts.isVoidExpression(p)) return false;
  if (ts.isPropertyAccessExpression(p) && p.expression === expr) return !ROWLESS_FIELDS.has(p.name.text);
  if (ts.isVariableDeclaration(p) && p.initializer === expr) {
    if (ts.isObjectBindingPattern(p.name)) {
      return p.name.elements.some((e) => {
        const key = e.propertyName ?? e.name;
        return !(ts.isIdentifier(key) && ROWLESS_FIELDS.has(key.text));
      });
    }
    if (ts.isIdentifier(p.name)) {
      let scope: ts.Node = p;
      while (!ts.isBlock(scope) && !ts.isSourceFile(scope)) scope = scope.parent;
      return !onlyRowlessUses(p.name.text, scope, p.name);
    }
  }
  return true;
}

interface Finding {
  where: string;
  text: string;
}

/** `any` anywhere in the row type, or pg.QueryResultRow (whose fields are `any`). */
function hasAny(type: ts.TypeNode): boolean {
  let found = false;
  const visit = (n: ts.Node): void => {
    if (n.kind === ts.SyntaxKind.AnyKeyword) found = true;
    if (ts.isTypeReferenceNode(n) && /(^|\.)QueryResultRow$/.test(n.typeName.getText())) found = true;
    if (!found) ts.forEachChild(n, visit);
  };
  visit(type);
  return found;
}

function untypedQueries(file: string): Finding[] {
  const text = readFileSync(path.join(SRC, file), "utf8");
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const out: Finding[] = [];
  const visit = (n: ts.Node): void => {
    if (
      ts.isCallExpression(n) &&
      ts.isPropertyAccessExpression(n.expression) &&
      n.expression.name.text === "query"
    ) {
      const typeArg = n.typeArguments?.[0];
      const anyArg = typeArg !== undefined && hasAny(typeArg);
      if ((typeArg === undefined && resultIsRead(n)) || anyArg) {
        const { line } = sf.getLineAndCharacterOfPosition(n.getStart(sf));
        out.push({ where: `src/${file}:${line + 1}`, text: n.getText(sf).split("\n")[0]!.slice(0, 80) });
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe("typed queries", () => {
  it("every query whose rows are read names its row type (not any)", () => {
    const bad: string[] = [];
    for (const file of sourceFiles()) {
      for (const f of untypedQueries(file)) bad.push(`${f.where}  ${f.text}`);
    }
    if (bad.length > 0)
      expect.fail(
        `untyped queries whose rows are read (${bad.length}); give each a row type:\n${bad.join("\n")}`,
      );
  });

  it("the scan finds an untyped read and passes a typed one, a discarded one and a rowCount", () => {
    const probe = (code: string): boolean => {
      const sf = ts.createSourceFile("probe.ts", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
      let found = false;
      const visit = (n: ts.Node): void => {
        if (
          ts.isCallExpression(n) &&
          ts.isPropertyAccessExpression(n.expression) &&
          n.expression.name.text === "query"
        )
          found ||= n.typeArguments === undefined && resultIsRead(n);
        ts.forEachChild(n, visit);
      };
      visit(sf);
      return found;
    };
    expect(probe("async function f(c) { const { rows } = await c.query('select 1'); }")).toBe(true);
    expect(probe("async function f(c) { return (await c.query('select 1')).rows[0]; }")).toBe(true);
    expect(probe("async function f(c) { const r = await c.query('select 1'); return r.rows; }")).toBe(true);
    expect(probe("async function f(c) { const r = await c.query<{ n: string }>('select 1'); }")).toBe(false);
    expect(probe("async function f(c) { await c.query('begin'); }")).toBe(false);
    expect(probe("async function f(c) { await c.query('rollback').catch(() => {}); }")).toBe(false);
    expect(probe("async function f(c) { const { rowCount } = await c.query('delete from t'); }")).toBe(false);
    expect(probe("async function f(c) { return (await c.query('delete from t')).rowCount; }")).toBe(false);
    expect(probe("function f(c) { const s = c.query(new CopyOut('copy t to stdout')); }")).toBe(false);
    expect(probe("function f(c) { const s = c.query(copyFrom('copy t from stdin')); }")).toBe(false);
    expect(probe("function f(c) { return withClient(i, (x) => x.query('select 1')); }")).toBe(true);
    expect(probe("async function f(c) { await onSide('source', () => c.query('savepoint a')); }")).toBe(
      false,
    );
  });

  it("a row type with any in it counts as untyped", () => {
    const typeOf = (code: string): ts.TypeNode => {
      const sf = ts.createSourceFile(
        "probe.ts",
        `type T = ${code};`,
        ts.ScriptTarget.ES2022,
        true,
        ts.ScriptKind.TS,
      );
      return (sf.statements[0] as ts.TypeAliasDeclaration).type;
    };
    expect(hasAny(typeOf("any"))).toBe(true);
    expect(hasAny(typeOf("{ n: any }"))).toBe(true);
    expect(hasAny(typeOf("Record<string, any>"))).toBe(true);
    expect(hasAny(typeOf("pg.QueryResultRow"))).toBe(true);
    expect(hasAny(typeOf("{ n: string; at: Date | null }"))).toBe(false);
    expect(hasAny(typeOf("Record<string, unknown>"))).toBe(false);
  });
});
