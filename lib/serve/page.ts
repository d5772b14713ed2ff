/**
 * The page's server side: the page (page_html.ts) and its assets (page_assets.ts), and its API on
 * the same origin: `POST /api/query` runs SQL as `tracelake query` does (prepareQuery +
 * runStatements: the lake's views, the write guard) and answers the last statement's first
 * `maxRows` rows as JSON; `GET /api/views` the view names and descriptions (QUERY_VIEWS);
 * `POST /api/complete` completes SQL as the REPL's Tab does (lib/repl/complete.ts: DuckDB's
 * sql_auto_complete on a second connection, view sets, processes); `GET /perfetto/<process_id>/` exports the process to a temporary
 * .pftrace and answers `tracelake open`'s page (lib/perfetto/open_page.ts: the postMessage
 * hand-off to the Perfetto UI), which fetches the trace from `.../trace.pftrace`.
 * Engine work runs through `serial`, one at a time with the receiver's commits. Requests whose
 * Host is not 127.0.0.1/localhost (DNS rebinding) or whose Origin is another site are refused.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Engine } from "../duck/engine.ts";
import { messageOf } from "../errors.ts";
import type { Lake } from "../lake/lake.ts";
import { openPageHtml } from "../perfetto/open_page.ts";
import { type CompletionSource, complete, connectionSource } from "../repl/complete.ts";
import { exportPerfetto } from "../sql/export_perfetto.ts";
import { prepareQuery, QUERY_VIEWS, runStatements } from "../sql/query.ts";
import { PAGE_ASSETS } from "./page_assets.ts";
import { pageHtml } from "./page_html.ts";
import type { Serial } from "./serial.ts";
import type { PageHandler } from "./server.ts";

/** Options of the page. */
export interface PageOptions {
  /** The Perfetto UI the hand-off page opens (e.g. `https://ui.perfetto.dev/#!/`). */
  perfettoUi: string;
  /** Rows a query answers at most (the table pages through them; default 10 000). */
  maxRows?: number;
}

/** A query's answer: the last statement's columns and first rows (values JSON-friendly). */
export interface QueryAnswer {
  columns: { name: string; type: string }[];
  rows: unknown[][];
  /** True when the statement had more rows than were sent. */
  truncated: boolean;
  /** Wall time, ms. */
  ms: number;
}

const json = (v: unknown, status = 200): Response =>
  new Response(JSON.stringify(v), { status, headers: { "content-type": "application/json; charset=utf-8" } });

/** Whether the request comes to a loopback name (not a DNS-rebound one) from no or the same origin. */
function trusted(req: Request): boolean {
  const host = (req.headers.get("host") ?? "").replace(/:\d+$/, "");
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "[::1]") return false;
  const origin = req.headers.get("origin");
  if (origin === null) return true;
  try {
    return new URL(origin).host === req.headers.get("host");
  } catch {
    return false;
  }
}

/**
 * The page's handler, for startServe's `page`.
 * @returns a PageHandler answering `/`, `/assets/*`, `/api/*` and `/perfetto/*` (null otherwise),
 *   and `close` to remove its temporary traces.
 */
export function pageHandler(
  engine: Engine,
  lake: Lake,
  serial: Serial,
  opts: PageOptions,
): { handle: PageHandler; close: () => void } {
  const maxRows = opts.maxRows ?? 10_000;
  const dir = mkdtempSync(join(tmpdir(), "tracelake-serve-"));
  /** Exported traces by process id: file path and size. */
  const traces = new Map<string, { file: string; size: number }>();

  const query = (sql: string): Promise<QueryAnswer> =>
    serial.run(async () => {
      const t0 = performance.now();
      await prepareQuery(engine, lake, sql);
      let last: QueryAnswer = { columns: [], rows: [], truncated: false, ms: 0 };
      for await (const st of runStatements(engine, sql)) {
        const rows: unknown[][] = [];
        let truncated = false;
        for await (const chunk of st.chunks()) {
          for (const r of chunk) {
            if (rows.length < maxRows) rows.push(r);
            else truncated = true;
          }
          if (truncated) break;
        }
        if (!st.empty) last = { columns: st.columns, rows, truncated, ms: 0 };
      }
      last.ms = performance.now() - t0;
      return last;
    });

  const exportTrace = (processId: string): Promise<{ file: string; size: number }> =>
    serial.run(async () => {
      const file = join(dir, `${processId.replace(/[^A-Za-z0-9-]/g, "_")}.pftrace`);
      await exportPerfetto(engine, lake, { process: [processId], output: file }, 1);
      const t = { file, size: statSync(file).size };
      traces.set(processId, t);
      return t;
    });

  let completion: CompletionSource | null = null;
  let completionConn: Awaited<ReturnType<Engine["connect"]>> | null = null;
  const completeText = async (text: string) => {
    if (completion === null) {
      completionConn = await engine.connect();
      completion = connectionSource(completionConn);
    }
    return complete(text, completion);
  };

  const handle: PageHandler = async (req, path) => {
    if (!trusted(req)) return new Response("forbidden: not a loopback request from this page\n", { status: 403 });
    if (path === "/" && req.method === "GET")
      return new Response(pageHtml(), { headers: { "content-type": "text/html; charset=utf-8" } });
    const asset = PAGE_ASSETS[path];
    if (asset) return new Response(asset.body, { headers: { "content-type": asset.type } });
    if (path === "/api/views") return json(QUERY_VIEWS);
    if (path === "/api/complete" && req.method === "POST") {
      try {
        const { text } = (await req.json()) as { text?: unknown };
        return json(await completeText(typeof text === "string" ? text : ""));
      } catch (e) {
        return json({ error: messageOf(e) }, 400);
      }
    }
    if (path === "/api/query") {
      if (req.method !== "POST" || !(req.headers.get("content-type") ?? "").startsWith("application/json"))
        return json({ error: "POST a JSON object {sql}" }, 405);
      let sql: unknown;
      try {
        sql = ((await req.json()) as { sql?: unknown }).sql;
      } catch {
        sql = undefined;
      }
      if (typeof sql !== "string" || sql.trim() === "") return json({ error: "no SQL given" }, 400);
      try {
        return json(await query(sql));
      } catch (e) {
        return json({ error: messageOf(e) }, 400);
      }
    }
    const m = path.match(/^\/perfetto\/([0-9a-fA-F-]{36})\/(|trace\.pftrace|sent)$/);
    if (m) {
      const processId = m[1] as string;
      const base = `/perfetto/${processId}/`;
      if (m[2] === "") {
        try {
          const t = await exportTrace(processId);
          return new Response(
            openPageHtml({
              uiUrl: opts.perfettoUi,
              tracePath: `${base}trace.pftrace`,
              sentPath: `${base}sent`,
              title: `process ${processId.slice(0, 8)}`,
              fileName: `${processId}.pftrace`,
              size: t.size,
            }),
            { headers: { "content-type": "text/html; charset=utf-8" } },
          );
        } catch (e) {
          return new Response(`cannot export process ${processId}: ${messageOf(e)}\n`, { status: 400 });
        }
      }
      const t = traces.get(processId);
      if (m[2] === "trace.pftrace" && t) return new Response(Bun.file(t.file));
      if (m[2] === "sent" && req.method === "POST") return new Response("ok");
      return new Response("not found\n", { status: 404 });
    }
    return null;
  };
  return {
    handle,
    close: () => {
      completionConn?.closeSync();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
