import net from "node:net";

/**
 * A TCP proxy in front of a real server whose path can be frozen: it then stops forwarding in
 * both directions but keeps every socket open, like a middlebox or NAT that silently drops
 * packets (a half-open path). Nothing is closed or reset, so neither end learns of it; new
 * connections are accepted and held the same way. thaw() forwards again.
 */
export interface FreezeProxy {
  readonly port: number;
  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string;
  freeze(): void;
  thaw(): void;
  readonly frozen: boolean;
  close(): Promise<void>;
}

export async function startFreezeProxy(host: string, port: number): Promise<FreezeProxy> {
  let frozen = false;
  const sockets = new Set<net.Socket>();

  const forward = (from: net.Socket, to: net.Socket) => {
    from.on("data", (b: Buffer) => {
      if (!to.write(b)) {
        from.pause();
        to.once("drain", () => {
          if (!frozen) from.resume();
        });
      }
    });
    from.on("close", () => to.destroy());
    from.on("error", () => to.destroy());
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      if (frozen) s.pause();
    }
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const proxyPort = (server.address() as net.AddressInfo).port;

  return {
    port: proxyPort,
    url(u: string): string {
      const parsed = new URL(u);
      parsed.hostname = "127.0.0.1";
      parsed.port = String(proxyPort);
      return parsed.toString();
    },
    freeze() {
      frozen = true;
      for (const s of sockets) s.pause();
    },
    thaw() {
      frozen = false;
      for (const s of sockets) s.resume();
    },
    get frozen() {
      return frozen;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
