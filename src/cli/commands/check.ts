import type { Command } from "commander";
import { PgferryError } from "../../errors/index.js";
import type { CliContext } from "../context.js";

// Placeholder until the check stage lands.
export function register(program: Command, _ctx: CliContext): void {
  program
    .command("check")
    .description("(not built yet)")
    .action(() => {
      throw new PgferryError("INTERNAL", "pgferry check is not built yet.", { side: "local" });
    });
}
