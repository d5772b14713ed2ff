/**
 * Scalar functions that hand the results of a sequential JS pass (thread span stacks, async
 * pairing) to DuckDB by row position, instead of appending them to a table and joining it back:
 * the transform's final SELECT calls e.g. `tl_span(pos)` on each source row (`pos`: the row's
 * dense INTEGER index, lib/views/source.ts blockRows) and the function reads the pass's typed
 * arrays for a whole vector (up to 2048 rows) per JS call.
 *
 * A set of functions belongs to one view set's materialization. It is registered once per engine
 * (on its main connection; the engine's forks, Engine.fork, run the same functions) and reads the state given to
 * `run` only while `run`'s callback runs; anywhere else (e.g. a user's query naming it) it fails
 * with "<name> is internal to the materialization of <view set>". Each call fills typed arrays
 * that are copied into the output vector (or the STRUCT's field vectors) through node-bindings.
 */
import type { DuckDBType } from "@duckdb/node-api";
import { duckApi } from "./api.ts";
import { duckBindings } from "./bindings.ts";
import { type ColumnArray, type ColumnType, duckdbType, newColumn } from "./columnar.ts";
import type { Engine } from "./engine.ts";

/** One scalar function `name(pos INTEGER)` reading a pass's state of type S. */
export interface LookupFunction<S> {
  /** SQL name, e.g. `tl_span`. */
  name: string;
  /**
   * The result: one fixed-width type, or the fields (name, type) of a STRUCT, in order (one JS
   * call per vector for several results: a call costs about as much as the lookups it does).
   */
  returns: ColumnType | (readonly [string, ColumnType])[];
  /**
   * Writes the results of the rows at `pos[0..n)` into `out[k][0..n)`: one typed array for a
   * single type, one per STRUCT field otherwise (each at least n long).
   */
  fill(state: S, pos: Int32Array, n: number, out: ColumnArray[]): void;
}

/** Rows per DuckDB vector (STANDARD_VECTOR_SIZE): the most a call gets. */
const VECTOR_ROWS = 2048;

/** The functions of one view set's JS pass; see the file comment. */
export class LookupFunctions<S> {
  private readonly active = new WeakMap<Engine, { state: S | null }>();

  /**
   * @param owner the view set whose materialization the functions belong to (in error messages).
   * @param functions the functions, each of one INTEGER argument (the row's pos).
   */
  constructor(
    readonly owner: string,
    readonly functions: LookupFunction<S>[],
  ) {}

  /**
   * Runs `f` with the functions reading `state`, registering them on the engine first if needed.
   * @throws Error when another materialization of the same view set runs on the engine or a
   *   fork of it (the functions hold one state per engine and its forks), or what `f` throws.
   */
  async run<T>(engine: Engine, state: S, f: () => Promise<T>): Promise<T> {
    // One slot per DuckDB instance: its forks (Engine.fork) share the registered functions.
    const base = engine.forkOf ?? engine;
    let slot = this.active.get(base);
    if (!slot) {
      slot = { state: null };
      await this.register(base, slot);
      this.active.set(base, slot);
    }
    if (slot.state !== null) throw new Error(`${this.owner}: two materializations at once on one engine`);
    slot.state = state;
    try {
      return await f();
    } finally {
      slot.state = null;
    }
  }

  private async register(engine: Engine, slot: { state: S | null }): Promise<void> {
    const api = await duckApi();
    const bindings = await duckBindings();
    for (const fn of this.functions) {
      const fields: ColumnType[] = typeof fn.returns === "string" ? [fn.returns] : fn.returns.map(([, t]) => t);
      const returnType: DuckDBType =
        typeof fn.returns === "string"
          ? duckdbType(api, fn.returns)
          : api.STRUCT(Object.fromEntries(fn.returns.map(([n, t]) => [n, duckdbType(api, t)])));
      const single = typeof fn.returns === "string";
      const message = `${fn.name} is internal to the materialization of ${this.owner}`;
      // One buffer per result field, reused by every call (the functions never return NULL).
      // node-api's own wrapper (setMainFunction) builds a DuckDBDataChunk and a DuckDBVector per
      // call, copying every output field's data and validity into JS before they are written:
      // 330 ms of a 1.76 s thread_spans build of the 91.5 MB Chromium JSON trace.
      const out = fields.map((t) => newColumn(t, VECTOR_ROWS));
      const sf = new api.DuckDBScalarFunction();
      sf.setName(fn.name);
      sf.setReturnType(returnType);
      sf.addParameter(api.INTEGER);
      bindings.scalar_function_set_function(sf.scalar_function, (info, input, output) => {
        const state = slot.state;
        if (state === null) {
          bindings.scalar_function_set_error(info, message);
          return;
        }
        const n = bindings.data_chunk_get_size(input);
        const bytes = bindings.vector_get_data(bindings.data_chunk_get_vector(input, 0), n * 4);
        const pos = new Int32Array(bytes.buffer, bytes.byteOffset, n);
        fn.fill(state, pos, n, out);
        for (let k = 0; k < out.length; k++) {
          const a = out[k] as ColumnArray;
          const target = single ? output : bindings.struct_vector_get_child(output, k);
          bindings.copy_data_to_vector(target, 0, a.buffer as ArrayBuffer, a.byteOffset, n * a.BYTES_PER_ELEMENT);
        }
      });
      engine.conn.registerScalarFunction(sf);
    }
  }
}
