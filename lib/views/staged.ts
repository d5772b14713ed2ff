/**
 * The two steps of a view set's build (ViewSet.stage: what reads the blocks into memory, then
 * the files' writes) for the view sets that build several processes in units, a process alone
 * or a batch of them (thread_spans, async_events): one rule for how a group of partitions is
 * staged and written.
 */
import type { MaterializeInput, MaterializeResult, StagedWrite } from "./view_set.ts";

/** A staged partition of one process, or of a unit of them (their results in the unit's order). */
export interface Staged<R> {
  /** Writes the files (see StagedWrite.write). */
  write(): Promise<R>;
  /** Drops what the stage made, writing nothing. */
  discard(): Promise<void>;
}

/** How a view set stages one process, and a batch of several (in the batch's order). */
export interface UnitSteps {
  one(input: MaterializeInput): Promise<Staged<MaterializeResult>>;
  batch(members: MaterializeInput[]): Promise<Staged<MaterializeResult[]>>;
}

/**
 * ViewSet.stage over `units` (indexes into `inputs`, in build order, each unit a process alone
 * or a batch): the first unit staged now, the others staged and written one after another in
 * the write, which returns one result per input, in input order. One input alone is staged by
 * `steps.one` whatever `units` says.
 * @throws Error from the steps (nothing of a failed stage is left).
 */
export async function stageUnits(
  inputs: MaterializeInput[],
  units: number[][],
  steps: UnitSteps,
): Promise<StagedWrite> {
  const stageUnit = async (unit: number[]): Promise<Staged<MaterializeResult[]>> => {
    const members = unit.map((i) => inputs[i] as MaterializeInput);
    if (members.length > 1) return steps.batch(members);
    const one = await steps.one(members[0] as MaterializeInput);
    return { write: async () => [await one.write()], discard: () => one.discard() };
  };
  if (inputs.length === 1) return stageUnit([0]);
  const first = units.length > 0 ? await stageUnit(units[0] as number[]) : null;
  return {
    write: async () => {
      const results: MaterializeResult[] = new Array(inputs.length);
      const put = (unit: number[], done: MaterializeResult[]): void => {
        done.forEach((r, k) => {
          results[unit[k] as number] = r;
        });
      };
      if (first !== null) put(units[0] as number[], await first.write());
      for (const unit of units.slice(1)) put(unit, await (await stageUnit(unit)).write());
      return results;
    },
    discard: async () => first?.discard(),
  };
}
