import {
  hostPort,
  isLoopback,
  type ListenAddress,
  MonitorFeed,
  type MonitorServer,
  startMonitorServer,
} from "../monitor/index.js";
import type { EventSink } from "../progress/events.js";
import type { CliContext } from "./context.js";
import { packageVersion } from "./version.js";

export interface CliMonitor {
  feed: MonitorFeed;
  server: MonitorServer;
}

/**
 * Starts the monitor for a command: warns when it is reachable from other machines, binds (a
 * LISTEN_FAILED error before anything else started), and announces its URL as an event.
 */
export async function openMonitor(
  ctx: CliContext,
  role: "start" | "status",
  address: ListenAddress,
  token: string | undefined,
  emit: EventSink,
): Promise<CliMonitor> {
  if (!isLoopback(address.host)) {
    ctx.out.error(
      `warning: --listen ${hostPort(address.host, address.port)} serves the migration's progress beyond this machine, over plain HTTP${
        token ? "" : " and to anyone who can reach it (add --listen-token)"
      }; prefer 127.0.0.1 behind an SSH tunnel or a TLS proxy.`,
    );
  }
  const feed = new MonitorFeed(role, packageVersion());
  const server = await startMonitorServer({ ...address, feed, emit, ...(token ? { token } : {}) });
  emit({ type: "monitor:listening", url: server.url, metricsUrl: server.metricsUrl });
  return { feed, server };
}
