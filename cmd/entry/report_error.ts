/** main.ts's loader for `report_error`: see the rule in main.ts's file comment (Bun code-splitting). */
export { reportError } from "../common.ts";
