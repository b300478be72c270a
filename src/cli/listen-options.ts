import type { Command } from "commander";
import { PgferryError } from "../errors/index.js";

export interface ListenFlags {
  listen?: string;
  listenToken?: string;
}

/** --listen and --listen-token, for the commands that can serve the monitor (start, status). */
export function addListenOptions(cmd: Command): Command {
  return cmd
    .option(
      "--listen <[host:]port>",
      "serve a live dashboard, /metrics (Prometheus) and /status.json on this address (a bare port: 127.0.0.1; 0: any free port)",
    )
    .option(
      "--listen-token <token>",
      "require `Authorization: Bearer TOKEN` on every request to --listen (or PGFERRY_LISTEN_TOKEN)",
    );
}

/** The token --listen requires, if any; a token without --listen is bad usage. */
export function listenToken(flags: ListenFlags): string | undefined {
  const token = flags.listenToken ?? (process.env["PGFERRY_LISTEN_TOKEN"] || undefined);
  if (flags.listenToken !== undefined && flags.listen === undefined)
    throw new PgferryError("USAGE", "--listen-token needs --listen.", {
      side: "local",
      hint: "Add --listen [HOST:]PORT, or leave the token out.",
    });
  if (token !== undefined && token.trim().length < 8)
    throw new PgferryError("USAGE", "The --listen token must be at least 8 characters long.", {
      side: "local",
      hint: "Use a long random token, for example from `openssl rand -hex 16`.",
    });
  return token;
}
