// `pgferry tables add|remove`: tables joining or leaving a running migration.
export { type AddOptions, type AddResult, addTables } from "./add.js";
export { type RemoveResult, removeTables, type TablesOptions } from "./remove.js";
