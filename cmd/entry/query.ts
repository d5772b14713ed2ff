/** main.ts's loader for `query`: see the rule in main.ts's file comment (Bun code-splitting). */
export { queryCommand } from "../query.ts";
