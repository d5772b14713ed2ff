/** main.ts's loader for `serve`: see the rule in main.ts's file comment (Bun code-splitting). */
export { serveCommand } from "../serve.ts";
