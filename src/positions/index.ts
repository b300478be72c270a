export {
  cutSnapshot,
  formatSnapshot,
  isVisible,
  parseSnapshot,
  snapshotCovers,
  type TxidSnapshot,
} from "./snapshot.js";
export { changesAfter, changesUpTo } from "./sql.js";
