/** main.ts's loader for `gc`: see the rule in main.ts's file comment (Bun code-splitting). */
export { gcCommand } from "../gc.ts";
