import { ident, literal } from "../src/db/index.js";
import { herokuLikeDatabase, LocalServer } from "../src/local-server/index.js";
import { sourceClient } from "./dataset.js";
import { countInstructions, tpcbScript } from "./instructions.js";
import { pgbenchInit } from "./pgbench.js";
import { dropTriggers, installTriggers } from "./trigger-overhead.js";

/**
 * Issue 15: every capture design tried, counted by the method of instructions.ts (callgrind, one
 * backend in single-user mode, the same fixed TPC-B-like script), each installed alone on the four
 * pgbench tables. Only `pgferry` is the code `start` installs; the others are hand-written SQL
 * for these four integer-keyed tables, kept here so the figures in docs/benchmarks.md can be
 * reproduced. Some are lower bounds that are not safe to ship (they say so).
 */
export interface CaptureVariant {
  name: string;
  what: string;
  /** Added instructions per TPC-B-like transaction (four captured rows), against no triggers. */
  added: number;
  /** Log rows written per transaction. */
  logRows: number;
}

export interface CaptureVariantsResult {
  transactions: number;
  without: number;
  variants: CaptureVariant[];
}

const SCALE = 10;
const TABLES = [
  { id: 1, name: "pgbench_accounts", key: "aid" },
  { id: 2, name: "pgbench_branches", key: "bid" },
  { id: 3, name: "pgbench_tellers", key: "tid" },
  { id: 4, name: "pgbench_history", key: "id" },
] as const;
type Table = (typeof TABLES)[number];

const LOG = `create schema pgferry;
create table pgferry.changes (txid bigint not null default txid_current(), tbl int not null, op "char" not null, key jsonb);`;
const LOG_INDEX = "create index on pgferry.changes (tbl, txid);";
const CAT = "operator(pg_catalog.||)";

const rel = (t: Table) => `public.${ident(t.name)}`;
const jsonKey = (t: Table, row: "new" | "old" | string) =>
  `pg_catalog.jsonb_build_object(${literal(t.key)}, ${row}.${ident(t.key)})`;
const OPS = [
  ["ins", "insert"],
  ["upd", "update"],
  ["del", "delete"],
] as const;

function fn(name: string, body: string, opts: { definer?: boolean; ret?: string } = {}): string {
  return `create function pgferry.${ident(name)}() returns trigger language plpgsql${opts.definer === false ? "" : " security definer"} as $fn$
begin
  ${body}
  return ${opts.ret ?? "null"};
end
$fn$;`;
}

function rowTriggers(t: Table, timing: "after" | "before" = "after"): string {
  return OPS.map(
    ([op, ev]) =>
      `create trigger ${ident(`pgferry_capture_${op}`)} ${timing} ${ev} on ${rel(t)} for each row execute procedure pgferry.${ident(`c_${t.id}_${op}`)}();`,
  ).join("\n");
}

/** pgferry's row functions as written by hand, with the knobs the variants turn. */
function rowCapture(o: {
  key?: (t: Table, row: string) => string;
  index?: boolean;
  definer?: boolean;
  timing?: "after" | "before";
}): string {
  const key = o.key ?? jsonKey;
  const ret = o.timing === "before" ? "coalesce(new, old)" : "null";
  const ins = (t: Table, op: string, ...rows: string[]) =>
    `insert into pgferry.changes (tbl, op, key) values ${rows.map((r) => `(${t.id}, '${op}', ${key(t, r)})`).join(", ")};`;
  const parts = [LOG, o.index === false ? "" : LOG_INDEX];
  for (const t of TABLES) {
    const k = ident(t.key);
    const f = { definer: o.definer, ret };
    parts.push(
      fn(`c_${t.id}_ins`, ins(t, "I", "new"), f),
      fn(
        `c_${t.id}_upd`,
        `if new.${k}::pg_catalog.text operator(pg_catalog.=) old.${k}::pg_catalog.text then
    ${ins(t, "U", "new")}
  else
    ${ins(t, "U", "new", "old")}
  end if;`,
        f,
      ),
      fn(`c_${t.id}_del`, ins(t, "D", "old"), f),
      rowTriggers(t, o.timing),
    );
  }
  return parts.join("\n");
}

function emptyTriggers(timing: "after" | "before"): string {
  const ret = timing === "before" ? "coalesce(new, old)" : "null";
  return [
    LOG,
    `create function pgferry.e() returns trigger language plpgsql as $fn$ begin return ${ret}; end $fn$;`,
    ...TABLES.flatMap((t) =>
      OPS.map(
        ([op, ev]) =>
          `create trigger ${ident(`pgferry_capture_${op}`)} ${timing} ${ev} on ${rel(t)} for each row execute procedure pgferry.e();`,
      ),
    ),
  ].join("\n");
}

/**
 * One function per operation shared by every table (plpgsql sets a function's expressions up
 * once per transaction, so four calls of one function might cost less than one call each of
 * four): the table id and key column come as trigger arguments, the key through to_jsonb of the
 * whole row. Logs the new key of an UPDATE only (a lower bound of the design).
 */
function sharedFunctions(): string {
  const key = (row: string) =>
    `pg_catalog.jsonb_build_object(tg_argv[1], pg_catalog.to_jsonb(${row}) operator(pg_catalog.->) tg_argv[1])`;
  const ins = (op: string, row: string) =>
    `insert into pgferry.changes (tbl, op, key) values (tg_argv[0]::pg_catalog.int4, '${op}', ${key(row)});`;
  return [
    LOG,
    LOG_INDEX,
    fn("g_ins", ins("I", "new")),
    fn("g_upd", ins("U", "new")),
    fn("g_del", ins("D", "old")),
    ...TABLES.flatMap((t) =>
      OPS.map(
        ([op, ev]) =>
          `create trigger ${ident(`pgferry_capture_${op}`)} after ${ev} on ${rel(t)} for each row execute procedure pgferry.${ident(`g_${op}`)}(${literal(String(t.id))}, ${literal(t.key)});`,
      ),
    ),
  ].join("\n");
}

/** Statement triggers with transition tables: one INSERT … SELECT per statement. */
function statementCapture(oldKeysToo: boolean): string {
  const parts = [LOG, LOG_INDEX];
  for (const t of TABLES) {
    const sel = (op: string, tbl: string, a: string) =>
      `select ${t.id}, '${op}', ${jsonKey(t, a)} from ${tbl} ${a}`;
    const ins = (q: string) => `insert into pgferry.changes (tbl, op, key) ${q};`;
    parts.push(
      fn(`c_${t.id}_ins`, ins(sel("I", "new_rows", "n"))),
      fn(
        `c_${t.id}_upd`,
        ins(
          oldKeysToo
            ? `${sel("U", "new_rows", "n")} union all ${sel("U", "old_rows", "o")}`
            : sel("U", "new_rows", "n"),
        ),
      ),
      fn(`c_${t.id}_del`, ins(sel("D", "old_rows", "o"))),
      `create trigger pgferry_capture_ins after insert on ${rel(t)} referencing new table as new_rows for each statement execute procedure pgferry.${ident(`c_${t.id}_ins`)}();`,
      `create trigger pgferry_capture_upd after update on ${rel(t)} referencing old table as old_rows new table as new_rows for each statement execute procedure pgferry.${ident(`c_${t.id}_upd`)}();`,
      `create trigger pgferry_capture_del after delete on ${rel(t)} referencing old table as old_rows for each statement execute procedure pgferry.${ident(`c_${t.id}_del`)}();`,
    );
  }
  return parts.join("\n");
}

// The per-transaction buffer: keys appended to a transaction-local setting, written once at
// commit by a deferred constraint trigger. The setting starts with the transaction's txid, so a
// value left by another transaction (or SET by the session) is not taken for this one's.
const BUF = "pg_catalog.current_setting('pgferry.buf', true)";
const MARK = `pg_catalog.txid_current()::pg_catalog.text ${CAT} '|'`;
const BUFFERED = `pg_catalog.starts_with(${BUF}, ${MARK})`;
const FLUSH = (
  op: string,
) => `create function pgferry.flush_changes() returns trigger language plpgsql security definer as $fn$
begin
  if not ${BUFFERED} then raise exception 'pgferry: capture buffer lost'; end if;
  insert into pgferry.changes (tbl, op, key)
    select (e operator(pg_catalog.->>) 0)::pg_catalog.int4, ${op}, e operator(pg_catalog.->) 2
      from pg_catalog.jsonb_array_elements(('[' ${CAT} pg_catalog.substr(${BUF}, pg_catalog.strpos(${BUF}, '|') operator(pg_catalog.+) 2) ${CAT} ']')::pg_catalog.jsonb) e;
  if pg_catalog.set_config('pgferry.buf', '', true) is null then return null; end if;
  return null;
end
$fn$;`;
const entry = (t: Table, op: string, row: string) =>
  `',[${t.id},"${op}",' ${CAT} ${jsonKey(t, row)}::pg_catalog.text ${CAT} ']'`;

/**
 * Buffered in the row triggers: the transaction's first captured row inserts its own key (and,
 * through a deferred constraint trigger on the log, queues one flush); every later row only
 * appends its key to the buffer; the flush writes them with one INSERT … SELECT at commit.
 */
function rowBuffered(): string {
  const parts = [
    LOG,
    LOG_INDEX,
    FLUSH(`'U'`),
    `create constraint trigger pgferry_flush after insert on pgferry.changes deferrable initially deferred for each row
  when (new.op operator(pg_catalog.=) 'f') execute procedure pgferry.flush_changes();`,
  ];
  for (const t of TABLES) {
    const body = (row: string) => `if ${BUFFERED} then
    if pg_catalog.set_config('pgferry.buf', ${BUF} ${CAT} ${entry(t, "U", row)}, true) is null then return null; end if;
    return null;
  end if;
  if pg_catalog.set_config('pgferry.buf', ${MARK}, true) is null then return null; end if;
  insert into pgferry.changes (tbl, op, key) values (${t.id}, 'f', ${jsonKey(t, row)});`;
    parts.push(
      fn(`c_${t.id}_ins`, body("new")),
      fn(`c_${t.id}_upd`, body("new")),
      fn(`c_${t.id}_del`, body("old")),
      rowTriggers(t),
    );
  }
  return parts.join("\n");
}

/**
 * No row trigger at all: deferred constraint triggers whose WHEN clause calls a function that
 * appends the key to the buffer and is true only for the transaction's first row, so one event
 * per transaction is queued and fires the flush at commit.
 */
function whenBuffered(): string {
  const parts = [LOG, LOG_INDEX, FLUSH(`(e operator(pg_catalog.->>) 1)::"char"`)];
  const body = (e: string) => `begin
  b := ${BUF};
  if pg_catalog.starts_with(b, ${MARK}) then
    b := pg_catalog.set_config('pgferry.buf', b ${CAT} ${e}, true);
    return false;
  end if;
  b := pg_catalog.set_config('pgferry.buf', ${MARK} ${CAT} ${e}, true);
  return true;
end`;
  for (const t of TABLES) {
    const type = t.key === "id" ? "int8" : "int4";
    const e = (op: string, v: string) =>
      `',[${t.id},"${op}",' ${CAT} pg_catalog.json_build_object(${literal(t.key)}, ${v})::pg_catalog.text ${CAT} ']'`;
    const f = (op: string, args: string, en: string) =>
      `create function pgferry.${ident(`w_${t.id}_${op}`)}(${args}, b text default null) returns boolean language plpgsql security definer as $fn$\n${body(en)}\n$fn$;`;
    parts.push(
      f("ins", `n ${type}`, e("I", "n")),
      f("del", `o ${type}`, e("D", "o")),
      f(
        "upd",
        `o ${type}, n ${type}`,
        `case when n operator(pg_catalog.=) o then ${e("U", "n")} else ${e("U", "n")} ${CAT} ${e("U", "o")} end`,
      ),
    );
    const k = ident(t.key);
    for (const [op, ev, args] of [
      ["ins", "insert", `new.${k}`],
      ["upd", "update", `old.${k}, new.${k}`],
      ["del", "delete", `old.${k}`],
    ] as const) {
      parts.push(
        `create constraint trigger ${ident(`pgferry_capture_${op}`)} after ${ev} on ${rel(t)} deferrable initially deferred for each row when (pgferry.${ident(`w_${t.id}_${op}`)}(${args})) execute procedure pgferry.flush_changes();`,
      );
    }
  }
  return parts.join("\n");
}

/** Bucardo 5.6's triggers as its Bucardo.pm creates them: a delta table per table (key, txntime, two indexes), a SECURITY DEFINER row trigger with TG_OP branches, a statement trigger that NOTIFYs. */
function bucardo(kick: boolean): string {
  const parts = ["create schema bucardo;"];
  if (kick)
    parts.push(`create function bucardo.bucardo_kick_bench() returns trigger volatile language plpgsql as $notify$
BEGIN
  EXECUTE $nn$NOTIFY bucardo, 'kick_sync_bench'$nn$;
RETURN NEW;
END;
$notify$;`);
  for (const t of TABLES) {
    const d = `bucardo.${ident(`delta_public_${t.name}`)}`;
    const k = ident(t.key);
    parts.push(
      `create table ${d} as select ${k}, now()::timestamptz as txntime from ${rel(t)} limit 0;`,
      `alter table ${d} alter txntime set not null, alter txntime set default now();`,
      `create index on ${d} (txntime);`,
      `create index on ${d} (${k});`,
      `create function bucardo.${ident(`delta_public_${t.name}`)}() returns trigger language plpgsql security definer volatile as $clone$
BEGIN
IF (TG_OP = 'INSERT') THEN
  INSERT INTO ${d} VALUES (NEW.${k});
ELSIF (TG_OP = 'UPDATE') THEN
  INSERT INTO ${d} VALUES (OLD.${k});
  IF (OLD.${k} <> NEW.${k}) THEN
    INSERT INTO ${d} VALUES (NEW.${k});
  END IF;
ELSE
  INSERT INTO ${d} VALUES (OLD.${k});
END IF;
RETURN NULL;
END;
$clone$;`,
      `create trigger bucardo_delta after insert or update or delete on ${rel(t)} for each row execute procedure bucardo.${ident(`delta_public_${t.name}`)}();`,
    );
    if (kick)
      parts.push(
        `create trigger bucardo_kick_bench after insert or update or delete or truncate on ${rel(t)} for each statement execute procedure bucardo.bucardo_kick_bench();`,
      );
  }
  return parts.join("\n");
}

const VARIANTS: { name: string; what: string; sql: string | "pgferry" }[] = [
  {
    name: "floor",
    what: "empty plpgsql AFTER row triggers: the floor of any trigger capture",
    sql: emptyTriggers("after"),
  },
  { name: "floor, BEFORE", what: "empty BEFORE row triggers", sql: emptyTriggers("before") },
  { name: "pgferry", what: "the capture `pgferry start` installs (installTableCapture)", sql: "pgferry" },
  {
    name: "row, by hand",
    what: "the same written by hand (the base of the variants below)",
    sql: rowCapture({}),
  },
  {
    name: "key built as text",
    what: "the key built by string concatenation and cast to jsonb instead of jsonb_build_object (the same jsonb)",
    sql: rowCapture({
      key: (t, r) =>
        `('{${JSON.stringify(t.key)}:' ${CAT} ${r}.${ident(t.key)}::pg_catalog.text ${CAT} '}')::pg_catalog.jsonb`,
    }),
  },
  {
    name: "key via json",
    what: "json_build_object(…)::jsonb",
    sql: rowCapture({
      key: (t, r) =>
        `pg_catalog.json_build_object(${literal(t.key)}, ${r}.${ident(t.key)})::pg_catalog.jsonb`,
    }),
  },
  {
    name: "no key (bound)",
    what: "a NULL key: what building any key costs (not a capture)",
    sql: rowCapture({ key: () => "null" }),
  },
  {
    name: "no index (bound)",
    what: "no index on the log (windows would scan the whole log)",
    sql: rowCapture({ index: false }),
  },
  {
    name: "BRIN on txid",
    what: "a BRIN index on txid instead of the b-tree",
    sql: rowCapture({}).replace(LOG_INDEX, "create index on pgferry.changes using brin (txid);"),
  },
  {
    name: "not SECURITY DEFINER (bound)",
    what: "the functions run as the writer (every writer would need rights on the log)",
    sql: rowCapture({ definer: false }),
  },
  {
    name: "no SECURITY DEFINER, no index (bound)",
    what: "no SECURITY DEFINER, no index: the least one INSERT per row can cost",
    sql: rowCapture({ definer: false, index: false }),
  },
  {
    name: "BEFORE row triggers",
    what: "the same functions as BEFORE triggers (no after-trigger queue)",
    sql: rowCapture({ timing: "before" }),
  },
  {
    name: "one function for every table (bound)",
    what: "row triggers sharing one function per operation, key from to_jsonb(row) by a trigger argument; new keys only",
    sql: sharedFunctions(),
  },
  {
    name: "statement, transition tables",
    what: "one INSERT … SELECT per statement from NEW TABLE and OLD TABLE",
    sql: statementCapture(true),
  },
  {
    name: "statement, new keys only (bound)",
    what: "the same logging only the new keys of an UPDATE",
    sql: statementCapture(false),
  },
  {
    name: "buffered in row triggers",
    what: "first row of a transaction inserts, later rows append to a transaction-local setting, one INSERT … SELECT at commit (deferred constraint trigger)",
    sql: rowBuffered(),
  },
  {
    name: "buffered by WHEN, no row trigger",
    what: "deferred constraint triggers whose WHEN appends the key; one event per transaction",
    sql: whenBuffered(),
  },
  {
    name: "Bucardo 5.6",
    what: "Bucardo's delta and kick triggers, as Bucardo.pm creates them",
    sql: bucardo(true),
  },
  {
    name: "Bucardo 5.6 without kick",
    what: "Bucardo's delta trigger alone (autokick off)",
    sql: bucardo(false),
  },
];

/** Instructions per TPC-B-like transaction of each capture variant (issue 15). */
export async function runCaptureVariants(
  transactions: number,
  only?: string[],
): Promise<CaptureVariantsResult> {
  const server = await LocalServer.start({ major: 15, durable: false });
  try {
    const db = await herokuLikeDatabase(server, "bench_variants", { role: "bench_variants_owner" });
    await pgbenchInit(db, SCALE);
    const script = tpcbScript(transactions);
    const count = async (sql: string | "pgferry" | null): Promise<{ perTx: number; logRows: number }> => {
      const c = await sourceClient(db);
      try {
        await dropTriggers(c);
        await c.query("drop schema if exists pgferry cascade");
        await c.query("drop schema if exists bucardo cascade");
        if (sql === "pgferry") await installTriggers(c);
        else if (sql !== null) await c.query(sql);
      } finally {
        await c.end();
      }
      await server.admin(db.database, "truncate pgbench_history");
      await server.admin(db.database, "vacuum analyze pgbench_accounts, pgbench_branches, pgbench_tellers");
      await server.admin(db.database, "checkpoint");
      await server.halt();
      let perTx: number;
      try {
        const empty = await countInstructions(server, db.database, "\n");
        perTx = ((await countInstructions(server, db.database, script)) - empty) / transactions;
      } finally {
        await server.restart();
      }
      if (sql === null) return { perTx, logRows: 0 };
      const logs =
        typeof sql === "string" && sql.startsWith("create schema bucardo")
          ? TABLES.map((t) => `bucardo.${ident(`delta_public_${t.name}`)}`)
          : ["pgferry.changes"];
      const { rows } = await server.admin<{ n: number }>(
        db.database,
        `select (${logs.map((l) => `(select count(*) from ${l})`).join(" + ")})::int as n`,
      );
      return { perTx, logRows: rows[0]!.n / transactions };
    };
    const without = (await count(null)).perTx;
    const variants: CaptureVariant[] = [];
    for (const v of VARIANTS) {
      if (only && !only.includes(v.name)) continue;
      const r = await count(v.sql);
      variants.push({ name: v.name, what: v.what, added: r.perTx - without, logRows: r.logRows });
    }
    return { transactions, without, variants };
  } finally {
    await server.stop();
  }
}
