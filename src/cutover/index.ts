export { type CutoverDryRunResult, type CutoverOptions, type CutoverResult, cutover } from "./cutover.js";
export { drainWriters, type Fence, type FenceState, fenceState, lowerFence, raiseFence } from "./fence.js";
export { type RollbackOptions, type RollbackResult, rollback } from "./rollback.js";
export { runSteps, type Step, type StepLog } from "./steps.js";
export { connectionUrl } from "./switch-command.js";
