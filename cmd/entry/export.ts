/** main.ts's loader for `export`: see the rule in main.ts's file comment (Bun code-splitting). */
export { exportPerfettoCommand } from "../export.ts";
