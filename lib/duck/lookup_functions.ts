/**
 * Scalar functions that hand the results of a sequential JS pass (thread span stacks, async
 * pairing) to DuckDB by row position, instead of appending them to a table and joining it back:
 * the transform's final SELECT calls e.g. `tl_span(pos)` on each source row (`pos`: the row's
 * dense INTEGER index, lib/views/source.ts blockRows) and the function reads the pass's typed
 * arrays for a whole vector (up to 2048 rows) per JS call.
 *
 * A set of functions belongs to one view set's materialization. It is registered once per engine
 * (on its main connection, the one that runs the transform's COPY) and reads the state given to
 * `run` only while `run`'s callback runs; anywhere else (e.g. a user's query naming it) it fails
 * with "<name> is internal to the materialization of <view set>". The output vectors of
 * fixed-width types hold their data in a typed array (`items`, not in the public typings), which
 * the functions fill directly and `flush()`, as columnar.ts does.
 */
import type { DuckDBType } from "@duckdb/node-api";
import { duckApi } from "./api.ts";
import { type ColumnArray, type ColumnType, duckdbType } from "./columnar.ts";
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

type Raw = { items: ColumnArray; flush(): void };
type RawStruct = { entryVectorAt(i: number): Raw; flush(): void };

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
   * @throws Error when another materialization of the same view set runs on the engine (the
   *   functions hold one state per engine), or what `f` throws.
   */
  async run<T>(engine: Engine, state: S, f: () => Promise<T>): Promise<T> {
    let slot = this.active.get(engine);
    if (!slot) {
      slot = { state: null };
      await this.register(engine, slot);
      this.active.set(engine, slot);
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
    for (const fn of this.functions) {
      const single = typeof fn.returns === "string";
      const returnType: DuckDBType =
        typeof fn.returns === "string"
          ? duckdbType(api, fn.returns)
          : api.STRUCT(Object.fromEntries(fn.returns.map(([n, t]) => [n, duckdbType(api, t)])));
      const fields = single ? 1 : fn.returns.length;
      const message = `${fn.name} is internal to the materialization of ${this.owner}`;
      engine.conn.registerScalarFunction(
        api.DuckDBScalarFunction.create({
          name: fn.name,
          returnType,
          parameterTypes: [api.INTEGER],
          mainFunction: (info, chunk, out) => {
            const state = slot.state;
            if (state === null) {
              info.setError(message);
              return;
            }
            const pos = (chunk.getColumnVector(0) as unknown as Raw).items as Int32Array;
            const vectors: Raw[] = [];
            if (single) vectors.push(out as unknown as Raw);
            else for (let k = 0; k < fields; k++) vectors.push((out as unknown as RawStruct).entryVectorAt(k));
            fn.fill(
              state,
              pos,
              chunk.rowCount,
              vectors.map((v) => v.items),
            );
            // A STRUCT's flush writes its fields' vectors too.
            (out as unknown as Raw | RawStruct).flush();
          },
        }),
      );
    }
  }
}
