/** main.ts's loader for `repl`: see the rule in main.ts's file comment (Bun code-splitting). */
export { replCommand } from "../repl.ts";
