/** main.ts's loader for `start_engine`: see the rule in main.ts's file comment (Bun code-splitting). */
export { startEngine } from "../common.ts";
