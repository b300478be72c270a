import { timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { PgferryError, registerSecret } from "../errors/index.js";
import type { EventSink } from "../progress/events.js";
import { readAsset } from "./assets.js";
import type { FeedMessage, MonitorFeed } from "./feed.js";
import { hostPort, type ListenAddress } from "./listen-address.js";

export interface MonitorServerOptions extends ListenAddress {
  feed: MonitorFeed;
  /** Required as `Authorization: Bearer TOKEN` (or `?access_token=TOKEN`, for the page). */
  token?: string;
  /** Where the server's own troubles go (as `log` warnings): they never end the migration. */
  emit: EventSink;
}

export interface MonitorServer {
  /** The dashboard's URL, with the bound port. */
  readonly url: string;
  readonly metricsUrl: string;
  close(): Promise<void>;
}

const KEEPALIVE_MS = 15_000;
const HEADERS = {
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "content-security-policy":
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
};

/**
 * Serves the monitor over HTTP, read-only: the dashboard and its assets, /metrics, /status.json,
 * /history.json and /events (Server-Sent Events). Resolves once bound; a port in use or an
 * address that is not this machine's is a LISTEN_FAILED error, before anything else starts.
 */
export async function startMonitorServer(o: MonitorServerOptions): Promise<MonitorServer> {
  if (o.token) registerSecret(o.token);
  const streams = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    handle(req, res, o, streams).catch((err: unknown) => {
      warn(o.emit, `the monitor could not answer ${req.method} ${pathOf(req)}: ${(err as Error).message}`);
      if (!res.headersSent) res.writeHead(500, HEADERS);
      res.end();
    });
  });
  server.on("clientError", (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(listenFailed(err as NodeJS.ErrnoException, o)));
    server.listen(o.port, o.host, () => resolve());
  });
  server.on("error", (err) => warn(o.emit, `the monitor's server failed: ${err.message}`));
  const bound = (server.address() as AddressInfo).port;
  const url = `http://${hostPort(o.host, bound)}/`;
  return {
    url,
    metricsUrl: `${url}metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of streams) res.end();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  o: MonitorServerOptions,
  streams: Set<http.ServerResponse>,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://monitor");
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { ...HEADERS, allow: "GET, HEAD" });
    return void res.end();
  }
  if (o.token && !authorized(req, url, o.token)) {
    res.writeHead(401, { ...HEADERS, "www-authenticate": 'Bearer realm="pgferry"' });
    return void res.end();
  }
  const head = req.method === "HEAD";
  const send = (status: number, type: string, body: string | Buffer) => {
    res.writeHead(status, { ...HEADERS, "content-type": type, "content-length": Buffer.byteLength(body) });
    res.end(head ? undefined : body);
  };
  const json = (value: unknown) => send(200, "application/json; charset=utf-8", JSON.stringify(value));
  switch (url.pathname) {
    case "/metrics":
      return send(200, o.feed.metrics.registry.contentType, await o.feed.metrics.registry.metrics());
    case "/status.json": {
      const status = o.feed.status;
      if (status) return json(status);
      res.setHeader("retry-after", "2");
      return send(503, "application/json; charset=utf-8", JSON.stringify({ error: "no status read yet" }));
    }
    case "/history.json":
      return json(o.feed.history());
    case "/events":
      return openStream(req, res, o.feed, streams, head);
    default: {
      const asset = await readAsset(url.pathname);
      if (!asset) return send(404, "text/plain; charset=utf-8", "not found\n");
      return send(200, asset.type, asset.body);
    }
  }
}

function openStream(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  feed: MonitorFeed,
  streams: Set<http.ServerResponse>,
  head: boolean,
): void {
  res.writeHead(200, {
    ...HEADERS,
    "content-type": "text/event-stream; charset=utf-8",
    connection: "keep-alive",
  });
  if (head) return void res.end();
  res.write("retry: 3000\n\n");
  const send = (m: FeedMessage) => res.write(`event: ${m.kind}\ndata: ${JSON.stringify(m.data)}\n\n`);
  const unsubscribe = feed.subscribe(send);
  const keepalive = setInterval(() => res.write(": keep-alive\n\n"), KEEPALIVE_MS);
  keepalive.unref();
  streams.add(res);
  const done = () => {
    unsubscribe();
    clearInterval(keepalive);
    streams.delete(res);
  };
  req.on("close", done);
  res.on("error", done);
}

function authorized(req: http.IncomingMessage, url: URL, token: string): boolean {
  const header = req.headers.authorization ?? "";
  const given = header.startsWith("Bearer ") ? header.slice(7) : (url.searchParams.get("access_token") ?? "");
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function pathOf(req: http.IncomingMessage): string {
  return new URL(req.url ?? "/", "http://monitor").pathname;
}

function warn(emit: EventSink, message: string): void {
  try {
    emit({ type: "log", level: "warn", message });
  } catch {
    // Nothing more to do: the monitor never ends the migration.
  }
}

function listenFailed(err: NodeJS.ErrnoException, o: ListenAddress): PgferryError {
  const where = hostPort(o.host, o.port);
  const why =
    err.code === "EADDRINUSE"
      ? "the port is in use"
      : err.code === "EACCES"
        ? "not allowed (ports below 1024 need privileges)"
        : err.code === "EADDRNOTAVAIL" || err.code === "ENOTFOUND" || err.code === "EAI_AGAIN"
          ? "the address is not one of this machine's"
          : err.message;
  return new PgferryError("LISTEN_FAILED", `Cannot serve the monitor on ${where}: ${why}.`, {
    side: "local",
    cause: err,
  });
}
