import type { PhaseCount } from "./batch_importer.ts";
import type { RawRowSink } from "./raw_rows.ts";

export class OtlpJsonImporter {
  constructor(
    readonly sink: RawRowSink,
    readonly inputName: string,
    readonly processName?: string,
  ) {}
  push(_c: Uint8Array): void {
    throw new Error("not yet");
  }
  end(): void {}
  found(): number {
    return 0;
  }
  counts(): PhaseCount[] {
    return [];
  }
  warnings(): string[] {
    return [];
  }
}
