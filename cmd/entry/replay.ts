/** main.ts's loader for `replay`: see the rule in main.ts's file comment (Bun code-splitting). */
export { replayCommand } from "../replay.ts";
