/** main.ts's loader for `rm`: see the rule in main.ts's file comment (Bun code-splitting). */
export { rmCommand } from "../rm.ts";
