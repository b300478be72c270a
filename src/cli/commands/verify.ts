import type { Command } from "commander";
import { PgferryError } from "../../errors/index.js";
import type { CliContext } from "../context.js";

// Placeholder until the verify stage lands.
export function register(program: Command, _ctx: CliContext): void {
  program
    .command("verify")
    .description("(not built yet)")
    .action(() => {
      throw new PgferryError("INTERNAL", "pgferry verify is not built yet.", { side: "local" });
    });
}
