/**
 * Format sniffing from content, not from the file name. Only Chrome JSON is imported by this
 * version; other formats we recognize get a clear "not supported yet" message.
 */
import { InputError } from "../errors.ts";

/** Formats tracelake can ingest. */
export type TraceFormat = "chrome_json";

/**
 * Decides the format from the first decompressed bytes of `name`.
 * Chrome JSON: after an optional UTF-8 BOM and whitespace, `[` or `{` (reference/perfetto.md §5;
 * trace_processor sniffs `{"` or `[{"`, we also accept `[` alone so that `[]` and an array
 * starting with whitespace work).
 * @throws InputError naming the input when the content is empty or not a supported format.
 */
export function sniffFormat(name: string, head: Uint8Array | null): TraceFormat {
  if (!head || head.length === 0) {
    throw new InputError(`${name} is empty; there is nothing to ingest`);
  }
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x0a || head[i] === 0x0d || head[i] === 0x09)) i++;
  const b = head[i];
  if (b === 0x5b || b === 0x7b) return "chrome_json";
  // A Perfetto trace is a sequence of `Trace.packet` (field 1, length-delimited): tag byte 0x0a.
  if (head[0] === 0x0a && i < head.length) {
    throw new InputError(
      `${name} looks like a Perfetto protobuf trace, which this version of tracelake cannot ingest yet; export it as Chrome JSON`,
    );
  }
  if (i >= head.length) throw new InputError(`${name} holds only whitespace; there is nothing to ingest`);
  throw new InputError(
    `${name} is not a Chrome JSON trace (it does not start with '[' or '{'); tracelake ingests Chrome Trace Event Format files (.json, .json.gz)`,
  );
}
