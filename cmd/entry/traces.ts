/** main.ts's loader for `traces`: see the rule in main.ts's file comment (Bun code-splitting). */
export { tracesCommand } from "../traces.ts";
