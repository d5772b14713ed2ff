/** main.ts's loader for `check`: see the rule in main.ts's file comment (Bun code-splitting). */
export { checkCommand } from "../check.ts";
