import { type Command, Option } from "commander";
import { parsePatterns, tableMatcher } from "../../catalog/filter.js";
import { resolveUrl } from "../../db/conn-info.js";
import type { CliContext } from "../context.js";
import { addListenOptions, type ListenFlags, listenToken } from "../listen-options.js";
import { logFileOption, openLogFile } from "../log-file.js";
import {
  addConnectionOptions,
  jsonOption,
  lockTimeoutSeconds,
  nonNegativeNumber,
  positiveInt,
} from "../options.js";

interface StartFlags extends ListenFlags {
  source?: string;
  target?: string;
  jobs?: number;
  indexJobs?: number;
  chunkRows?: number;
  maxRate?: number;
  tables?: string;
  exclude?: string;
  skipCheck?: boolean;
  stream: boolean;
  pgDump?: string;
  lockTimeout?: number;
  json?: boolean;
  logFile?: string;
}

const OUTCOME_TEXT = {
  stopped: "Stopped. Run `pgferry start` again to resume where it left off.",
  indexed:
    "Every table is copied and indexed. Streaming was skipped (--no-stream): run `pgferry start` again to stream changes.",
  streamed: "Streaming stopped.",
  switched:
    "The application was switched to the target without a rollback window: nothing left to stream. Run `pgferry cleanup` when you are done.",
  "rolled-back":
    "The migration was rolled back: the application uses the source again, nothing left to stream. Run `pgferry cleanup` to remove pgferry's objects.",
  cleaned: "The migration was cleaned up: nothing left to stream.",
} as const;

export function register(program: Command, ctx: CliContext): void {
  const cmd = program
    .command("start")
    .description(
      "prepare, copy and index every table, then stream changes until cutover (and back to the source during a rollback window) or Ctrl-C; run again, it resumes",
    );
  addConnectionOptions(cmd)
    .option(
      "--jobs <n>",
      "copy workers in this process (default: from cores and the source's free connections)",
      positiveInt("--jobs"),
    )
    .option(
      "--index-jobs <n>",
      "index builds at once in this process (default: half the cores, 2 to 4)",
      positiveInt("--index-jobs"),
    )
    .option("--chunk-rows <n>", "rows per copy chunk (default 100000)", positiveInt("--chunk-rows"))
    .option(
      "--max-rate <MB/s>",
      "read at most this many MB (10^6 bytes) per second from the source, all workers together",
      nonNegativeNumber("--max-rate"),
    )
    .option(
      "--tables <patterns>",
      "only these tables: comma-separated schema.table patterns with * (public.*,audit.events)",
    )
    .option("--exclude <patterns>", "leave these tables out (same patterns)")
    .option("--skip-check", "do not run the preflight check at the first start")
    .option("--no-stream", "stop once every table is copied and indexed, without streaming changes")
    .option("--pg-dump <path>", "the pg_dump to use for the schema")
    .option(
      "--lock-timeout <seconds>",
      "how long one capture-trigger install may wait for its table lock, per try (default 0.2: writers of the table queue behind it)",
      lockTimeoutSeconds("--lock-timeout"),
    );
  addListenOptions(cmd)
    .addOption(jsonOption())
    .addOption(logFileOption())
    .addOption(
      new Option("--progress-interval <ms>").hideHelp().argParser(positiveInt("--progress-interval")),
    )
    .action(async (flags: StartFlags & { progressInterval?: number }) => {
      const source = resolveUrl(flags.source, "source");
      const target = resolveUrl(flags.target, "target");
      const include = parsePatterns(flags.tables);
      const exclude = parsePatterns(flags.exclude);
      // Bad patterns are reported before anything connects.
      tableMatcher({ ...(include ? { include } : {}), ...(exclude ? { exclude } : {}) });
      const { parseListenAddress } = await import("../../monitor/listen-address.js");
      const listen = flags.listen === undefined ? undefined : parseListenAddress(flags.listen);
      const token = listenToken(flags);
      const { runMigration } = await import("../../migration.js");
      const { chooseMode, makeRenderer, progressInterval } = await import("../render/index.js");
      const mode = chooseMode(ctx.out, flags.json);
      const shown = makeRenderer(ctx.out, mode);
      const log = openLogFile(flags.logFile, "start", process.argv.slice(2));
      ctx.record = log.write;
      const renderer = {
        onEvent: (e: Parameters<typeof shown.onEvent>[0]) => {
          log.write(e);
          shown.onEvent(e);
        },
        stop: () => shown.stop(),
      };
      if (mode === "tty")
        ctx.notice = (text) => renderer.onEvent({ type: "log", level: "warn", message: text });
      const restoreCursor = () => renderer.stop();
      process.once("exit", restoreCursor);
      if (mode !== "json")
        ctx.out.line(
          `pgferry start: ${source.display} → ${target.display}${log.path ? ` (events appended to ${log.path})` : ""}`,
        );
      // Bound before the migration starts: a port in use changes nothing.
      const monitor = listen
        ? await (await import("../monitor.js")).openMonitor(ctx, "start", listen, token, renderer.onEvent)
        : undefined;
      const emit: typeof renderer.onEvent = monitor
        ? (e) => {
            renderer.onEvent(e);
            monitor.feed.onEvent(e);
          }
        : renderer.onEvent;
      try {
        const result = await runMigration(
          { source, target, emit, signal: ctx.signal },
          {
            ...(flags.jobs ? { jobs: flags.jobs } : {}),
            ...(flags.indexJobs ? { indexJobs: flags.indexJobs } : {}),
            ...(flags.chunkRows ? { chunkRows: flags.chunkRows } : {}),
            ...(flags.maxRate ? { maxRateMBps: flags.maxRate } : {}),
            ...(include ? { include } : {}),
            ...(exclude ? { exclude } : {}),
            ...(flags.skipCheck ? { skipCheck: true } : {}),
            ...(flags.pgDump ? { pgDump: flags.pgDump } : {}),
            ...(flags.lockTimeout !== undefined
              ? { lockTimeoutMs: Math.round(flags.lockTimeout * 1000) }
              : {}),
            stream: flags.stream,
            // The dashboard's charts want a point every two seconds at least.
            progressIntervalMs:
              flags.progressInterval ??
              Math.min(progressInterval(mode), monitor ? 2000 : Number.POSITIVE_INFINITY),
          },
        );
        renderer.stop();
        const message = OUTCOME_TEXT[result.outcome];
        if (mode === "json") renderer.onEvent({ type: "log", level: "info", message });
        else
          ctx.out.line(
            `${message} (phase ${result.phase}; ${result.jobs} copy jobs, ${result.indexJobs} index jobs)`,
          );
        ctx.setExit(0);
      } finally {
        renderer.stop();
        await monitor?.server.close();
        process.off("exit", restoreCursor);
      }
    });
}
