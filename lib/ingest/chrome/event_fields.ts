/**
 * The vocabulary of the event parser's output (event_parser.ts): the top-level fields of a Chrome
 * trace event it reads (their indexes), the kinds of values it reports, and its value flags.
 */

/** Top-level fields read by the importer, by index. */
export const FIELDS = [
  "ph",
  "name",
  "cat",
  "ts",
  "dur",
  "tts",
  "tdur",
  "pid",
  "tid",
  "id",
  "id2",
  "scope",
  "s",
  "bp",
  "bind_id",
  "flow_in",
  "flow_out",
  "args",
] as const;

/** Index of each field in FIELDS and in the parser's per-field arrays. */
export const F_PH = 0;
export const F_NAME = 1;
export const F_CAT = 2;
export const F_TS = 3;
export const F_DUR = 4;
export const F_TTS = 5;
export const F_TDUR = 6;
export const F_PID = 7;
export const F_TID = 8;
export const F_ID = 9;
export const F_ID2 = 10;
export const F_SCOPE = 11;
export const F_S = 12;
export const F_BP = 13;
export const F_BIND_ID = 14;
export const F_FLOW_IN = 15;
export const F_FLOW_OUT = 16;
export const F_ARGS = 17;

/** Value kinds: missing key, null, string, number, true, false, object, array. */
export const V_MISSING = 0;
export const V_NULL = 1;
export const V_STR = 2;
export const V_NUM = 3;
export const V_TRUE = 4;
export const V_FALSE = 5;
export const V_OBJ = 6;
export const V_ARR = 7;

/** Flags of a value: a string with escapes; a value whose text is not already canonical. */
export const FL_ESC = 1;
export const FL_REWRITE = 2;
/** A string whose escapes are not all in the form yyjson writes (only VARCHAR use is handled). */
export const FL_NONCANON_ESC = 4;
