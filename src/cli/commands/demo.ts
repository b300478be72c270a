import type { Command } from "commander";
import { PgferryError } from "../../errors/index.js";
import type { CliContext } from "../context.js";

// Placeholder until the demo stage lands.
export function register(program: Command, _ctx: CliContext): void {
  program
    .command("demo")
    .description("(not built yet)")
    .action(() => {
      throw new PgferryError("INTERNAL", "pgferry demo is not built yet.", { side: "local" });
    });
}
