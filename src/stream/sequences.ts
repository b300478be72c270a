import type pg from "pg";
import type { MigrationContext } from "../context.js";
import { connect, qualified } from "../db/index.js";
import { readTables } from "../state/index.js";
import { onSide } from "./sessions.js";

export interface SequenceSyncOptions {
  /** Added to every copied value (in the sequence's direction), so ids never collide after a switch. */
  gap?: number;
  /** "reverse": from the target back to the source (rollback window). */
  direction?: "forward" | "reverse";
}

interface SeqState {
  schema: string;
  name: string;
  last: bigint;
  called: boolean;
  inc: bigint;
}

/**
 * The migration's sequences: those a replicated table owns (serial, identity), every
 * free-standing one (a sequence shared by several tables through nextval() defaults, wherever
 * its schema), and any a replicated table's default calls though another table owns it. Not
 * pgferry's own nor an extension's. Only those on both sides are set.
 */
const LIST_SQL = `
select n.nspname as schema, c.relname as name, s.seqincrement::text as inc
  from pg_class c join pg_namespace n on n.oid = c.relnamespace join pg_sequence s on s.seqrelid = c.oid
  left join lateral (
    select tn.nspname as tschema, tc.relname as tname
      from pg_depend d join pg_class tc on tc.oid = d.refobjid join pg_namespace tn on tn.oid = tc.relnamespace
     where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.refclassid = 'pg_class'::regclass
       and d.deptype in ('a', 'i')
     limit 1) o on true
 where c.relkind = 'S' and n.nspname not in ('pg_catalog', 'information_schema', 'pgferry')
   and n.nspname not like 'pg\\_%'
   and not exists (select 1 from pg_depend e
                    where e.classid = 'pg_class'::regclass and e.objid = c.oid and e.deptype = 'e')
   and (o.tname is null
        or (o.tschema, o.tname) in (select * from unnest($1::text[], $2::text[]))
        or exists (select 1
                     from pg_depend d join pg_attrdef ad on ad.oid = d.objid
                     join pg_class tc on tc.oid = ad.adrelid join pg_namespace tn on tn.oid = tc.relnamespace
                    where d.classid = 'pg_attrdef'::regclass and d.refclassid = 'pg_class'::regclass
                      and d.refobjid = c.oid
                      and (tn.nspname, tc.relname) in (select * from unnest($1::text[], $2::text[]))))
 order by 1, 2`;

interface Replicated {
  schemas: string[];
  names: string[];
}

async function migratedTables(control: pg.ClientBase): Promise<Replicated> {
  const rows = await readTables(control);
  return { schemas: rows.map((r) => r.schema), names: rows.map((r) => r.name) };
}

/** Current last_value/is_called of each sequence that exists, read in batches. */
async function readStates(client: pg.ClientBase, tables: Replicated): Promise<Map<string, SeqState>> {
  const { rows } = await client.query<{ schema: string; name: string; inc: string }>(LIST_SQL, [
    tables.schemas,
    tables.names,
  ]);
  const out = new Map<string, SeqState>();
  for (let i = 0; i < rows.length; i += 100) {
    const part = rows.slice(i, i + 100);
    const sql = part
      .map(
        (r, j) =>
          `select ${j} as j, last_value::text as last, is_called as called from ${qualified(r.schema, r.name)}`,
      )
      .join(" union all ");
    const vals = await client.query<{ j: number; last: string; called: boolean }>(sql);
    for (const v of vals.rows) {
      const r = part[v.j]!;
      out.set(`${r.schema}.${r.name}`, {
        schema: r.schema,
        name: r.name,
        last: BigInt(v.last),
        called: v.called,
        inc: BigInt(r.inc),
      });
    }
  }
  return out;
}

function nextValue(s: Pick<SeqState, "last" | "called" | "inc">): bigint {
  return s.called ? s.last + s.inc : s.last;
}

/**
 * Sets every sequence of the migration (see LIST_SQL: serial, identity and shared ones) on the
 * apply side from the capture side's last_value/is_called, plus `gap`, but never moves one
 * backwards. Returns how many were moved. Records the values in pgferry.sequences.
 */
export async function syncSequences(ctx: MigrationContext, opts: SequenceSyncOptions = {}): Promise<number> {
  const control = await connect(ctx.target, { stage: "stream" });
  const source = await connect(ctx.source, { stage: "stream", statementTimeoutMs: 60_000 }).catch(
    async (e) => {
      await control.end().catch(() => {});
      throw e;
    },
  );
  try {
    const reverse = opts.direction === "reverse";
    const [from, to] = reverse ? ([control, source] as const) : ([source, control] as const);
    return await syncSequencesOn({ from, to, control, reverse, gap: opts.gap ?? 0 });
  } finally {
    await Promise.all([control.end().catch(() => {}), source.end().catch(() => {})]);
  }
}

/** The same over open sessions (the stream's own, for its periodic sync). */
export async function syncSequencesOn(s: {
  from: pg.ClientBase;
  to: pg.ClientBase;
  control: pg.ClientBase;
  reverse: boolean;
  gap: number;
}): Promise<number> {
  const tables = await migratedTables(s.control);
  const fromSide = s.reverse ? "target" : "source";
  const toSide = s.reverse ? "source" : "target";
  const want = await onSide(fromSide, () => readStates(s.from, tables));
  const have = await onSide(toSide, () => readStates(s.to, tables));
  return onSide(toSide, () => applyStates(s.to, s.control, want, have, BigInt(s.gap)));
}

/** The sequences the apply side would move forward (never backwards). */
function movesFor(want: Map<string, SeqState>, have: Map<string, SeqState>, gap: bigint) {
  const moves: { rel: string; value: bigint; called: boolean; s: SeqState }[] = [];
  for (const [key, w] of want) {
    const h = have.get(key);
    if (!h) continue;
    const value = w.last + (w.inc < 0n ? -gap : gap);
    const next = nextValue({ last: value, called: w.called, inc: w.inc });
    const current = nextValue(h);
    const ahead = w.inc < 0n ? next < current : next > current;
    if (ahead) moves.push({ rel: qualified(w.schema, w.name), value, called: w.called, s: w });
  }
  return moves;
}

/** How many sequences syncSequences would move now, reading both sides and writing nothing. */
export async function planSequences(ctx: MigrationContext, gap = 0): Promise<number> {
  const control = await connect(ctx.target, { stage: "stream" });
  try {
    const source = await connect(ctx.source, { stage: "stream", statementTimeoutMs: 60_000 });
    try {
      const tables = await migratedTables(control);
      const want = await onSide("source", () => readStates(source, tables));
      const have = await onSide("target", () => readStates(control, tables));
      return movesFor(want, have, BigInt(gap)).length;
    } finally {
      await source.end().catch(() => {});
    }
  } finally {
    await control.end().catch(() => {});
  }
}

async function applyStates(
  to: pg.ClientBase,
  control: pg.ClientBase,
  want: Map<string, SeqState>,
  have: Map<string, SeqState>,
  gap: bigint,
): Promise<number> {
  const moves = movesFor(want, have, gap);
  if (moves.length > 0) {
    await to.query(
      `select setval(x.rel::regclass, x.v, x.c) from unnest($1::text[], $2::int8[], $3::bool[]) as x(rel, v, c)`,
      [moves.map((m) => m.rel), moves.map((m) => m.value.toString()), moves.map((m) => m.called)],
    );
  }
  const all = [...want.values()].filter((w) => have.has(`${w.schema}.${w.name}`));
  if (all.length > 0) {
    await control.query(
      `insert into pgferry.sequences (schema_name, sequence_name, last_value, is_called, synced_at)
       select * , now() from unnest($1::text[], $2::text[], $3::int8[], $4::bool[])
       on conflict (schema_name, sequence_name) do update
         set last_value = excluded.last_value, is_called = excluded.is_called, synced_at = excluded.synced_at`,
      [
        all.map((w) => w.schema),
        all.map((w) => w.name),
        all.map((w) => w.last.toString()),
        all.map((w) => w.called),
      ],
    );
  }
  return moves.length;
}
