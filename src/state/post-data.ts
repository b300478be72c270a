import type pg from "pg";

export type PostDataStage = "index" | "cutover";

/** One row of pgferry.post_data: DDL from pg_dump built after a table's copy or at the cutover. */
export interface PostDataRow {
  id: number;
  tableId: number | null;
  kind: string;
  name: string;
  statement: string;
  stage: PostDataStage;
  done: boolean;
  /** pg_dump's entry type: INDEX, CONSTRAINT, INDEX ATTACH, FK CONSTRAINT, TRIGGER, … */
  dumpType: string | null;
  /** The relation the statement acts on: the table, a leaf partition, a materialized view. */
  relationSchema: string | null;
  relationName: string | null;
  /** Keys: CREATE UNIQUE INDEX first, then constraintStatement (ADD CONSTRAINT … USING INDEX). */
  indexStatement: string | null;
  constraintStatement: string | null;
  /** A foreign key the cutover added NOT VALID, validated after the switch. */
  validateAfterSwitch: boolean;
}

function toPostDataRow(r: Record<string, unknown>): PostDataRow {
  const s = (k: string) => (r[k] as string | null | undefined) ?? null;
  return {
    id: r["id"] as number,
    tableId: (r["table_id"] as number | null) ?? null,
    kind: r["kind"] as string,
    name: r["name"] as string,
    statement: r["statement"] as string,
    stage: r["stage"] === "index" ? "index" : "cutover",
    done: r["done"] === true,
    dumpType: s("dump_type"),
    relationSchema: s("relation_schema"),
    relationName: s("relation_name"),
    indexStatement: s("index_statement"),
    constraintStatement: s("constraint_statement"),
    validateAfterSwitch: r["validate_after_switch"] === true,
  };
}

/** A post-data item as prepare (or `tables add`) stores it. */
export type NewPostData = Omit<PostDataRow, "id" | "done" | "validateAfterSwitch">;

/** Stores items in the given order: the id order is the order to build them in. */
export async function insertPostData(client: pg.ClientBase, items: readonly NewPostData[]): Promise<void> {
  if (items.length === 0) return;
  const col = <K extends keyof NewPostData>(k: K) => items.map((r) => r[k]);
  await client.query(
    `insert into pgferry.post_data
       (table_id, kind, name, statement, stage, relation_schema, relation_name, index_statement, constraint_statement, dump_type)
     select a, b, c, d, e, f, g, h, i, j
       from unnest($1::int[], $2::text[], $3::text[], $4::text[], $5::text[],
                   $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
            with ordinality as u(a, b, c, d, e, f, g, h, i, j, n)
      order by n`,
    [
      col("tableId"),
      col("kind"),
      col("name"),
      col("statement"),
      col("stage"),
      col("relationSchema"),
      col("relationName"),
      col("indexStatement"),
      col("constraintStatement"),
      col("dumpType"),
    ],
  );
}

/** Items of one stage in build order: of one table (not yet done) for 'index', all for 'cutover'. */
export async function readPostData(
  client: pg.ClientBase,
  q: { stage: "index"; tableId: number } | { stage: "cutover" },
): Promise<PostDataRow[]> {
  const { rows } =
    q.stage === "index"
      ? await client.query<Record<string, unknown>>(
          "select * from pgferry.post_data where table_id = $1 and stage = 'index' and not done order by id",
          [q.tableId],
        )
      : await client.query<Record<string, unknown>>(
          "select * from pgferry.post_data where stage = 'cutover' order by id",
        );
  return rows.map(toPostDataRow);
}

/**
 * A table's keys and indexes held back for the cutover (deferred, not yet built), by name;
 * `qualified`: as "relation_schema.name".
 */
export async function heldBackIndexNames(
  client: pg.ClientBase,
  tableId: number,
  qualified = false,
): Promise<Set<string>> {
  const { rows } = await client.query<{ name: string }>(
    `select ${qualified ? "relation_schema || '.' || name" : "name"} as name from pgferry.post_data
      where table_id = $1 and stage = 'cutover' and not done and kind in ('primary_key', 'unique', 'index')`,
    [tableId],
  );
  return new Set(rows.map((r) => r.name));
}

/** The done-mark; `validateAfterSwitch`: a foreign key added NOT VALID. */
export async function markPostDataDone(
  client: pg.ClientBase,
  id: number,
  validateAfterSwitch?: boolean,
): Promise<void> {
  if (validateAfterSwitch === undefined)
    await client.query("update pgferry.post_data set done = true, done_at = now() where id = $1", [id]);
  else
    await client.query(
      "update pgferry.post_data set done = true, done_at = now(), validate_after_switch = $2 where id = $1",
      [id, validateAfterSwitch],
    );
}

/** Undoes the done-mark (the cutover's undo dropped the object); `clearValidate` too. */
export async function markPostDataUndone(
  client: pg.ClientBase,
  id: number,
  clearValidate: boolean,
): Promise<void> {
  await client.query(
    `update pgferry.post_data set done = false, done_at = null${clearValidate ? ", validate_after_switch = false" : ""} where id = $1`,
    [id],
  );
}

/** An index item that cannot be built now: built at the cutover instead. */
export async function deferToCutover(client: pg.ClientBase, id: number): Promise<void> {
  await client.query("update pgferry.post_data set stage = 'cutover' where id = $1", [id]);
}

export async function validationPending(client: pg.ClientBase, id: number): Promise<boolean> {
  const { rows } = await client.query<{ pending: boolean }>(
    "select validated_at is null as pending from pgferry.post_data where id = $1",
    [id],
  );
  return rows[0]?.pending === true;
}

export async function markValidated(client: pg.ClientBase, id: number): Promise<void> {
  await client.query("update pgferry.post_data set validated_at = now() where id = $1", [id]);
}
