import type pg from "pg";
import { fenceState } from "../capture/index.js";
import { cutoverLockHeld } from "../state/index.js";
import type { OperationStatus, StatusReport } from "./status-model.js";

type Row = Record<string, unknown>;

/** The fences matter from the cutover on; before it neither side is fenced. */
export async function readFences(client: pg.ClientBase, m: Row): Promise<StatusReport["fences"]> {
  const phase = m["phase"] as string;
  if (!["cutover", "switched", "rolled-back"].includes(phase)) return undefined;
  // Lowered by a rollback (source_unfenced_at, 006_rollback.sql) or by an undone cutover
  // (fence_raised_at cleared).
  const sourceUp = phase !== "rolled-back" && Boolean(m["fence_raised_at"]) && !m["source_unfenced_at"];
  return { source: sourceUp ? "up" : "down", target: await fenceState(client) };
}

async function lastStep(client: pg.ClientBase, operation: string): Promise<string | null> {
  const has = await client.query<{ ok: boolean }>(
    "select to_regclass('pgferry.cutover_steps') is not null as ok",
  );
  if (!has.rows[0]?.ok) return null;
  const { rows } = await client.query<{ step: string }>(
    "select step from pgferry.cutover_steps where operation = $1 order by id desc limit 1",
    [operation],
  );
  return rows[0]?.step ?? null;
}

/**
 * A cutover (phase `cutover`) or a rollback (phase `switched` with a fence or a switch mark
 * it left) that runs, or that died: without the cutover lock nothing runs it any more.
 */
export async function readOperation(
  client: pg.ClientBase,
  m: Row,
  fences: StatusReport["fences"],
): Promise<OperationStatus | undefined> {
  const phase = m["phase"] as string;
  let op: Pick<OperationStatus, "name" | "switchStarted"> | undefined;
  if (phase === "cutover") op = { name: "cutover", switchStarted: Boolean(m["switch_started_at"]) };
  if (phase === "switched") {
    const started = Boolean(m["rollback_switch_started_at"]);
    if (started || fences?.target === "up" || fences?.source === "down")
      op = { name: "rollback", switchStarted: started };
  }
  if (!op) return undefined;
  const running = await cutoverLockHeld(client);
  let next: string | null = null;
  if (!running) {
    next =
      op.name === "rollback"
        ? "run `pgferry rollback` again"
        : op.switchStarted
          ? "run `pgferry cutover` again to finish it"
          : "run `pgferry cutover` to finish it or `pgferry rollback` to undo it";
  }
  return {
    ...op,
    state: running ? "running" : "interrupted",
    step: await lastStep(client, op.name),
    next,
  };
}
