export { type CleanupOptions, type CleanupReport, cleanup, type SideCleanup } from "./cleanup.js";
export type { FinalReport } from "./final-report.js";
