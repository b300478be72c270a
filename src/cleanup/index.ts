export { type CleanupOptions, type CleanupReport, cleanup, type SideCleanup } from "./cleanup.js";
