import type pg from "pg";
import { type PostDataItem, relationKey, type SchemaDump } from "./types.js";

/**
 * Stores the post-data items in pgferry.post_data, in dump order (the id order is the order to
 * build them in), linked to pgferry.tables by the "schema.name" of the replicated table. An
 * index-stage item whose table is not replicated (not in the map) is built at cutover instead.
 * Call it once, in the prepare transaction.
 */
export async function storePostData(
  target: pg.ClientBase,
  dump: SchemaDump,
  tableIds: ReadonlyMap<string, number>,
): Promise<void> {
  const rows = dump.postData.map((item) => row(item, tableIds));
  if (rows.length === 0) return;
  const col = <K extends keyof ReturnType<typeof row>>(k: K) => rows.map((r) => r[k]);
  await target.query(
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

function row(item: PostDataItem, tableIds: ReadonlyMap<string, number>) {
  const key =
    item.table === null
      ? undefined
      : relationKey({ schema: item.tableSchema ?? item.schema, name: item.table });
  const tableId = key === undefined ? undefined : tableIds.get(key);
  return {
    tableId: tableId ?? null,
    kind: item.kind,
    name: item.name,
    statement: item.statement,
    stage: tableId === undefined ? "cutover" : item.stage,
    relationSchema: item.relation?.schema ?? null,
    relationName: item.relation?.name ?? null,
    indexStatement: item.indexStatement ?? null,
    constraintStatement: item.constraintStatement ?? null,
    dumpType: item.dumpType ?? null,
  };
}
