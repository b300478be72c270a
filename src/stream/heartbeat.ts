import { type ConnInfo, SQLSTATE } from "../db/index.js";
import { Backoff, isRetryable, sleep } from "../db/retry.js";
import type { EventSink } from "../progress/events.js";
import { errorMessage, Session, sqlState } from "./sessions.js";

const BEAT_SQL = `insert into pgferry.heartbeat (id, beat_at) values (1, now())
  on conflict (id) do update set beat_at = excluded.beat_at`;

export interface Heartbeat {
  stop(): Promise<void>;
}

/**
 * Writes now() into the capture side's pgferry.heartbeat every interval, on its own
 * connection (application_name pgferry:heartbeat). Its log rows (table id 0) make every
 * window carry the time it reaches, which is the lag. A fenced source refuses the write
 * (SQLSTATE 25006): that is expected during cutover and is not reported.
 */
export function startHeartbeat(info: ConnInfo, intervalMs: number, emit: EventSink): Heartbeat {
  const stop = new AbortController();
  const session = new Session(info, { stage: "heartbeat", statementTimeoutMs: 10_000, lockTimeoutMs: 5000 });
  const loop = (async () => {
    const backoff = new Backoff();
    let warned = false;
    while (!stop.signal.aborted) {
      try {
        const c = await session.get();
        await c.query(BEAT_SQL);
        backoff.reset();
        await sleep(intervalMs, stop.signal);
      } catch (err) {
        if (sqlState(err) === SQLSTATE.readOnlySqlTransaction) {
          await sleep(intervalMs, stop.signal);
          continue;
        }
        await session.discard();
        if (!isRetryable(err) && !warned) {
          warned = true;
          emit({
            type: "log",
            level: "warn",
            message: `The heartbeat cannot be written: ${errorMessage(err)}`,
          });
        }
        await sleep(backoff.next(), stop.signal);
      }
    }
    await session.discard();
  })();
  return {
    async stop() {
      stop.abort();
      await loop;
    },
  };
}
