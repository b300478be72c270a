import { X509Certificate } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { describe, expect, it } from "vitest";
import { selfSignedCert } from "../../src/local-server/tls.js";

describe("the local servers' self-signed certificate", () => {
  it("is a valid CA certificate for localhost and 127.0.0.1, signed by its own key", async () => {
    const { cert } = await selfSignedCert();
    const x = new X509Certificate(cert);
    expect(x.subject).toBe("CN=localhost");
    expect(x.ca).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.checkHost("localhost")).toBe("localhost");
    expect(x.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(new Date(x.validFrom).getTime()).toBeLessThan(Date.now());
    expect(new Date(x.validTo).getTime()).toBeGreaterThan(Date.now() + 365 * 86_400_000);
  });

  it("passes a full TLS verification (as sslmode=verify-full does) against itself as the root", async () => {
    const { cert, key } = await selfSignedCert();
    const server = tls.createServer({ cert, key }, (s) => s.end("ok"));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const { port } = server.address() as AddressInfo;
      for (const host of ["localhost", "127.0.0.1"]) {
        const socket = tls.connect({
          host: "127.0.0.1",
          port,
          ca: cert,
          servername: host === "localhost" ? host : undefined,
          checkServerIdentity: (_h, c) => tls.checkServerIdentity(host, c),
        });
        await once(socket, "secureConnect");
        expect(socket.authorized).toBe(true);
        socket.destroy();
      }
    } finally {
      server.close();
    }
  });
});
