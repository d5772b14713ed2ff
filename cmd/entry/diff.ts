/** main.ts's loader for `diff`: see the rule in main.ts's file comment (Bun code-splitting). */
export { diffCommand } from "../diff.ts";
