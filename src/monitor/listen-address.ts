import { isIP } from "node:net";
import { PgferryError } from "../errors/index.js";

export interface ListenAddress {
  host: string;
  /** 0: any free port (the bound one is in the monitor's url). */
  port: number;
}

const HINT =
  "Give --listen a port (9187, served on 127.0.0.1) or HOST:PORT (127.0.0.1:9187, [::1]:9187, 0.0.0.0:9187).";
const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/**
 * Parses `--listen`: PORT (loopback only: a dashboard is opened to the network on purpose,
 * never by default), HOST:PORT, or [IPV6]:PORT. Bad input is a USAGE error, before anything
 * starts.
 */
export function parseListenAddress(value: string): ListenAddress {
  const bad = (why: string) =>
    new PgferryError("USAGE", `--listen ${JSON.stringify(value)} is not a listening address: ${why}.`, {
      side: "local",
      hint: HINT,
    });
  const v = value.trim();
  let host = "127.0.0.1";
  let portText = v;
  const bracketed = /^\[([^\]]+)\]:(.*)$/.exec(v);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2]!;
    if (isIP(host) !== 6) throw bad("the part in brackets must be an IPv6 address");
  } else if (v.includes(":")) {
    const at = v.lastIndexOf(":");
    host = v.slice(0, at);
    portText = v.slice(at + 1);
    if (host === "") throw bad("the host before the colon is missing");
    if (host.includes(":")) throw bad("write an IPv6 address in brackets, as [::1]:9187");
    if (isIP(host) === 0 && !HOST_NAME.test(host)) throw bad(`${JSON.stringify(host)} is not a host name`);
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad("the port must be a number from 0 to 65535");
  const port = Number(portText);
  if (port > 65535) throw bad("the port must be a number from 0 to 65535");
  return { host, port };
}

/** Whether only this machine can reach the address. */
export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

/** The address as a URL's authority: IPv6 in brackets. */
export function hostPort(host: string, port: number): string {
  return `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}
