import type { Command } from "commander";
import { PgferryError } from "../../errors/index.js";
import type { CliContext } from "../context.js";

// Placeholder until the start stage lands.
export function register(program: Command, _ctx: CliContext): void {
  program
    .command("start")
    .description("(not built yet)")
    .action(() => {
      throw new PgferryError("INTERNAL", "pgferry start is not built yet.", { side: "local" });
    });
}
