/** main.ts's loader for `open`: see the rule in main.ts's file comment (Bun code-splitting). */
export { openCommand } from "../open.ts";
