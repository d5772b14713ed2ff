/**
 * Traces: one trace = one ingest (a `lake.ingests` row and the processes, streams and blocks it
 * committed). This file holds the rules for a trace's name (what a name may be, the default one,
 * keeping names unique) and for naming a trace on the command line or in SQL: its trace_id
 * (= ingest_id), a unique prefix of it (4+ characters), or its name. The catalog must be attached
 * (as `lake`) for every function that takes an engine.
 */
import type { Engine } from "../duck/engine.ts";
import { InputError } from "../errors.ts";
import type { Lake } from "./lake.ts";

/** One trace as the resolvers return it. */
export interface TraceRef {
  /** ingests.ingest_id (a UUID). */
  traceId: string;
  name: string;
  /** The source as ingested (absolute path, or `-` for stdin). */
  source: string;
}

/**
 * SQL for the default name of a trace ingested from `source` (a VARCHAR expression): the file's
 * base name, `stdin` for `-`, with every `:` made `_` (a `:` separates the trace from the process
 * in `TRACE:PROCESS` references). Used by the ingest and by migration 2 (one copy of the rule).
 */
export function defaultTraceNameSql(source: string): string {
  return `CASE WHEN ${source} = '-' THEN 'stdin'
    ELSE coalesce(nullif(replace(regexp_extract(${source}, '[^/\\\\]*$'), ':', '_'), ''), 'trace') END`;
}

/**
 * Checks a name given by the user (`ingest --name`, `traces --rename`).
 * @returns the name, trimmed.
 * @throws InputError when it is empty, holds a `:` or a control character, or is longer than 200
 *   characters.
 */
export function checkTraceName(name: string): string {
  const n = name.trim();
  if (n === "") throw new InputError("a trace name cannot be empty; pass a name such as run2");
  if (n.includes(":")) {
    throw new InputError(
      `trace name '${n}' holds a ':', which separates the trace from the process in TRACE:PROCESS; pick a name without ':'`,
    );
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(n)) throw new InputError("a trace name cannot hold control characters");
  if (n.length > 200) throw new InputError(`trace name '${n.slice(0, 40)}…' is longer than 200 characters`);
  return n;
}

/**
 * Throws when a trace already has `name` (an explicit `ingest --name` must be new).
 * @throws InputError naming the trace that has the name.
 */
export async function refuseTakenName(engine: Engine, name: string): Promise<void> {
  const r = await engine.rows<{ ingest_id: string }>("SELECT ingest_id FROM lake.ingests WHERE name = $n", {
    n: name,
  });
  const id = r[0]?.ingest_id;
  if (id !== undefined) {
    throw new InputError(
      `--name ${name}: trace ${id} already has that name; pick another name (tracelake traces lists them), or rename or rm that trace`,
    );
  }
}

/**
 * refuseTakenName with the catalog attached read-only for the check and detached after (an
 * ingest checks `--name` before its work, and again in its commit).
 */
export async function refuseTakenNameNow(engine: Engine, lake: Lake, name: string): Promise<void> {
  await lake.attach(engine, "read");
  try {
    await refuseTakenName(engine, name);
  } finally {
    await lake.detach(engine);
  }
}

/**
 * The name of a trace being committed: `explicit` (checked by checkTraceName) when no trace has
 * it, else the default for `source` made unique (uniqueTraceName). In the commit's transaction.
 * @throws InputError when `explicit` is taken.
 */
export async function chooseTraceName(engine: Engine, explicit: string | null, source: string): Promise<string> {
  if (explicit !== null) {
    await refuseTakenName(engine, explicit);
    return explicit;
  }
  const r = await engine.rows<{ n: string }>(`SELECT ${defaultTraceNameSql("$s::VARCHAR")} AS n`, { s: source });
  return uniqueTraceName(engine, r[0]?.n ?? "trace");
}

/**
 * A name no trace has yet: `base`, else `base#2`, `base#3`... (the first free one).
 * @param exclude a trace_id whose own name does not count (a rename to its own name).
 */
export async function uniqueTraceName(engine: Engine, base: string, exclude: string | null = null): Promise<string> {
  const taken = new Set(
    (
      await engine.rows<{ name: string }>(
        "SELECT name FROM lake.ingests WHERE starts_with(name, $b) AND ingest_id IS DISTINCT FROM $x",
        { b: base, x: exclude },
      )
    ).map((r) => r.name),
  );
  if (!taken.has(base)) return base;
  for (let k = 2; ; k++) if (!taken.has(`${base}#${k}`)) return `${base}#${k}`;
}

/**
 * The SQL condition "the trace whose id and name are the columns `id` and `name` matches the
 * reference `t`" (a VARCHAR expression): its id or name is `t`, its id starts with `t` (4+
 * characters), or its name is `t` ignoring case. One copy of the rule, for matchTraces and the
 * `partitions --process TRACE:PROCESS` filter (lib/sql/catalog.ts).
 */
export function traceMatchSql(id: string, name: string, t: string): string {
  return `(${id} = ${t} OR ${name} = ${t} OR (length(${t}) >= 4 AND starts_with(${id}, lower(${t}))) OR lower(${name}) = lower(${t}))`;
}

/**
 * The traces `text` names: the trace whose id or name is `text` when there is one, else every
 * trace whose id starts with `text` (4+ characters) or whose name is `text` ignoring case.
 * @returns the matches, oldest first (empty when none).
 */
export async function matchTraces(engine: Engine, text: string): Promise<TraceRef[]> {
  const rows = await engine.rows<{ ingest_id: string; name: string | null; source: string }>(
    `SELECT ingest_id, name, source FROM lake.ingests WHERE ${traceMatchSql("ingest_id", "name", "$t")}
     ORDER BY insert_time, ingest_id`,
    { t: text },
  );
  const all = rows.map((r) => ({ traceId: r.ingest_id, name: r.name ?? r.ingest_id, source: r.source }));
  const exact = all.filter((r) => r.traceId === text || r.name === text);
  return exact.length > 0 ? exact : all;
}

/**
 * The one trace `text` names (see matchTraces).
 * @param context what is resolving it, for the message (`rm`, `view_instance`...).
 * @param makeError the error class to throw (InputError on the command line, SqlError in SQL).
 * @throws makeError's error naming the candidates when none or several match.
 */
export async function resolveTrace(
  engine: Engine,
  text: string,
  context: string,
  makeError: (message: string) => Error = (m) => new InputError(m),
): Promise<TraceRef> {
  const rows = await matchTraces(engine, text);
  if (rows.length === 1) return rows[0] as TraceRef;
  if (rows.length === 0) {
    throw makeError(
      `${context}: no trace matches '${text}'; name a trace by its name, its trace_id or a unique prefix of it (tracelake traces lists them)`,
    );
  }
  throw makeError(
    `${context}: '${text}' matches ${rows.length} traces: ${rows
      .slice(0, 10)
      .map(describeTrace)
      .join(", ")}; pass a longer trace_id prefix`,
  );
}

/** `name (trace_id, source)`, for messages. */
export function describeTrace(t: TraceRef): string {
  return `${t.name} (${t.traceId}, ${t.source})`;
}

/**
 * Renames the trace `text` names to `name` (checked by checkTraceName, unique in the lake), in
 * one statement. Attaches the catalog for writing and detaches it before returning.
 * @returns the trace as it was before, and the new name.
 * @throws InputError when `text` names no trace or several, or another trace has the name;
 *   LakeError when the catalog is busy past its timeout.
 */
export async function renameTrace(
  engine: Engine,
  lake: Lake,
  text: string,
  name: string,
): Promise<{ trace: TraceRef; name: string }> {
  const n = checkTraceName(name);
  await lake.attach(engine, "write");
  try {
    const trace = await resolveTrace(engine, text, "rename");
    const other = await engine.rows<{ ingest_id: string }>(
      "SELECT ingest_id FROM lake.ingests WHERE name = $n AND ingest_id <> $id",
      { n, id: trace.traceId },
    );
    if (other.length > 0) {
      throw new InputError(
        `rename: trace ${other[0]?.ingest_id} is already named '${n}'; pick another name (or rename that one first)`,
      );
    }
    await engine.run("UPDATE lake.ingests SET name = $n WHERE ingest_id = $id", { n, id: trace.traceId });
    return { trace, name: n };
  } finally {
    await lake.detach(engine);
  }
}
