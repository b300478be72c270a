import type { Command } from "commander";
import { PgferryError } from "../../errors/index.js";
import type { CliContext } from "../context.js";

// Placeholder until the status stage lands.
export function register(program: Command, _ctx: CliContext): void {
  program
    .command("status")
    .description("(not built yet)")
    .action(() => {
      throw new PgferryError("INTERNAL", "pgferry status is not built yet.", { side: "local" });
    });
}
