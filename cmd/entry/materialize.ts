/** main.ts's loader for `materialize`: see the rule in main.ts's file comment (Bun code-splitting). */
export { materializeCommand } from "../materialize.ts";
