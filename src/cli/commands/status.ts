import { type Command, Option } from "commander";
import { resolveUrl } from "../../db/conn-info.js";
import type { CliContext } from "../context.js";
import { addListenOptions, type ListenFlags } from "../listen-options.js";
import { addConnectionOptions, jsonOption, positiveInt } from "../options.js";

interface StatusFlags extends ListenFlags {
  target?: string;
  json?: boolean;
  watch?: boolean;
  interval?: number;
}

export function register(program: Command, ctx: CliContext): void {
  const cmd = program.command("status").description("where the migration stands (reads the target only)");
  addConnectionOptions(cmd, ["target"])
    // Accepted so one set of flags works for every command; status never connects to the source.
    .addOption(new Option("--source <url>", "ignored: status reads the target only").hideHelp())
    .addOption(jsonOption())
    .option("--watch", "keep refreshing until Ctrl-C")
    .option(
      "--interval <seconds>",
      "refresh period with --watch (default 2 on a terminal, 5 otherwise) or --listen (default 2)",
      positiveInt("--interval"),
    );
  addListenOptions(cmd).action(async (flags: StatusFlags) => {
    const target = resolveUrl(flags.target, "target");
    // Serves the dashboard and metrics from the target's state until Ctrl-C (issue 16).
    if (flags.listen !== undefined || flags.listenToken !== undefined)
      return (await import("../status-monitor.js")).serveStatus(ctx, flags, target);
    const { connect } = await import("../../db/index.js");
    const { readStatus: readMigration } = await import("../../progress/status.js");
    const { noMigrationStatus } = await import("../../progress/status-model.js");
    const { isPgferryError } = await import("../../errors/index.js");
    // No migration on the target is an answer, not a failure (exit 0, phase "none").
    const readStatus = (c: typeof client) =>
      readMigration(c).catch((err: unknown) => {
        if (isPgferryError(err) && err.code === "NOT_PREPARED") return noMigrationStatus();
        throw err;
      });
    const render = await import("../render/index.js");
    const { sleep } = await import("../../db/retry.js");
    const client = await connect(target, { stage: "status", statementTimeoutMs: 30_000 });
    try {
      if (!flags.watch) {
        const s = await readStatus(client);
        if (flags.json) ctx.out.json(s);
        else for (const line of render.statusLines(s)) ctx.out.line(line);
        return ctx.setExit(0);
      }
      const mode = render.chooseMode(ctx.out, flags.json);
      const everyMs = (flags.interval ?? (mode === "tty" ? 2 : 5)) * 1000;
      const view = mode === "tty" ? new render.LiveView(ctx.out) : undefined;
      const maxTables = Math.max(3, (process.stdout.rows || 24) - 6);
      process.once("exit", () => view?.stop());
      while (!ctx.signal.aborted) {
        const s = await readStatus(client);
        if (mode === "json") ctx.out.json(s);
        else if (view) view.render(render.liveLines(s, maxTables));
        else ctx.out.line(`${render.summaryLine(s)} · ${render.tablesLine(s)}`);
        // sleep() takes its abort listener off again: one added per refresh warned after ten.
        await sleep(everyMs, ctx.signal);
      }
      view?.stop();
      ctx.setExit(0);
    } finally {
      await client.end().catch(() => {});
    }
  });
}
