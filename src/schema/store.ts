import type pg from "pg";
import { insertPostData } from "../state/index.js";
import { type PostDataItem, relationKey, type SchemaDump } from "./types.js";

/**
 * Stores the post-data items in the control schema, in dump order (the id order is the order to
 * build them in), linked to the tables' rows by the "schema.name" of the replicated table. An
 * index-stage item whose table is not replicated (not in the map) is built at cutover instead.
 * Call it once, in the prepare transaction.
 */
export async function storePostData(
  target: pg.ClientBase,
  dump: SchemaDump,
  tableIds: ReadonlyMap<string, number>,
): Promise<void> {
  const rows = dump.postData.map((item) => row(item, tableIds));
  await insertPostData(target, rows);
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
