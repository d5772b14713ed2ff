/**
 * `tracelake serve [--port 4318] [--ui-port N] [--window-ms 1000] [--max-body-mb 32]
 * [--process-events 1000000] [--log-commits]`: a live
 * OTLP/HTTP receiver on 127.0.0.1 (lib/serve/receiver.ts) committing what it receives into the
 * lake at least every second (one ingest per run, lib/serve/live_ingest.ts), and a page to query
 * it (lib/serve/page.ts) on the same port, or on `--ui-port`. Ctrl-C (or SIGTERM) commits what was
 * received and exits 0. Prints where it listens, one line per commit with --log-commits, a warning
 * per failed commit (retried the next window), and what it received when it stops.
 */
import { ExitCode, UserError } from "../lib/errors.ts";
import { pageHandler } from "../lib/serve/page.ts";
import { DEFAULT_LIMITS } from "../lib/serve/receiver.ts";
import { Serial } from "../lib/serve/serial.ts";
import { startServe } from "../lib/serve/server.ts";
import { count, type GlobalOptions, openLake } from "./common.ts";

/** Options of `serve`, as commander gives them (text). */
export interface ServeCommandOptions {
  port?: string;
  uiPort?: string;
  windowMs?: string;
  maxBodyMb?: string;
  processEvents?: string;
  /** Print one line per commit (blocks, events, ms). */
  logCommits?: boolean;
}

/** A port option's value, 0..65535. @throws UserError otherwise. */
function portOf(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new UserError(`${name} takes a port number (0-65535), got ${JSON.stringify(v)}`, ExitCode.usage);
  return n;
}

/** A positive number option. @throws UserError otherwise. */
function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new UserError(`${name} takes a positive number, got ${JSON.stringify(v)}`, ExitCode.usage);
  return n;
}

/** Runs the command until Ctrl-C or SIGTERM; returns the exit code. */
export async function serveCommand(opts: ServeCommandOptions, g: GlobalOptions): Promise<number> {
  const port = portOf("--port", opts.port, 4318);
  const uiPort = opts.uiPort === undefined ? null : portOf("--ui-port", opts.uiPort, 0);
  const windowMs = positive("--window-ms", opts.windowMs, 1000);
  const maxBody = Math.round(
    positive("--max-body-mb", opts.maxBodyMb, DEFAULT_LIMITS.maxBodyBytes / 2 ** 20) * 2 ** 20,
  );
  const processEvents =
    opts.processEvents === "0" ? 0 : Math.round(positive("--process-events", opts.processEvents, 1_000_000));
  const { engine, lake } = await openLake(g, true);
  const serial = new Serial();
  // TRACELAKE_PERFETTO_UI replaces the Perfetto UI's URL (tests point it at a stand-in), as for `open`.
  const page = pageHandler(engine, lake, serial, {
    perfettoUi: process.env.TRACELAKE_PERFETTO_UI ?? "https://ui.perfetto.dev/#!/",
  });
  let server: ReturnType<typeof startServe>;
  try {
    server = startServe(engine, lake, {
      port,
      uiPort,
      serial,
      page: page.handle,
      windowMs,
      processEvents,
      limits: { ...DEFAULT_LIMITS, maxBodyBytes: maxBody },
      onCommit: (s, e) => {
        if (e) process.stderr.write(`warning: commit failed, retrying next window: ${(e as Error).message}\n`);
        else if (s && opts.logCommits)
          process.stderr.write(
            `committed ${count(s.events)} events in ${s.blocks} blocks (${s.ms.toFixed(0)} ms, of which ${s.flushMs.toFixed(0)} ms writing blocks)\n`,
          );
      },
    });
  } catch (e) {
    page.close();
    engine.close();
    throw new UserError(
      `cannot listen on 127.0.0.1:${(e as Error).message.includes(String(uiPort)) && uiPort !== null ? uiPort : port} (${(e as Error).message}); stop what uses it or pass --port / --ui-port`,
      ExitCode.usage,
    );
  }
  const base = `http://127.0.0.1:${server.port}`;
  process.stderr.write(
    `receiving OTLP/HTTP on ${base} (/v1/traces, /v1/logs, /v1/metrics; protobuf or JSON) into ${lake.root}\n` +
      `page: http://127.0.0.1:${server.uiPort}/\n` +
      `committed at least every ${windowMs} ms; Ctrl-C commits what was received and stops\n`,
  );
  const signal = await new Promise<string>((resolveSignal) => {
    process.once("SIGINT", () => resolveSignal("SIGINT"));
    process.once("SIGTERM", () => resolveSignal("SIGTERM"));
  });
  process.stderr.write(`${signal === "SIGINT" ? "interrupted" : "terminated"}: committing what was received\n`);
  try {
    await server.stop();
  } finally {
    page.close();
    engine.close();
  }
  const st = server.receiver.stats;
  const codes = [...st.byStatus.entries()].map(([k, v]) => `${v}×${k}`).join(", ");
  process.stderr.write(
    `received ${count(st.requests)} requests (${codes || "none"}); ${count(server.ingest.events)} events committed` +
      `${st.rejected > 0 ? `, ${count(st.rejected)} items rejected` : ""}; ingest ${server.ingest.ingestId}\n`,
  );
  return ExitCode.ok;
}
