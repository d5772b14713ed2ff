/** main.ts's loader for `info`: see the rule in main.ts's file comment (Bun code-splitting). */
export { infoCommand } from "../info.ts";
